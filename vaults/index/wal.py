"""Checking the index's write-ahead log for committed frames that SQLite would drop silently.

SQLite recovers a WAL by reading its frames in order and stops at the first one whose salt or
cumulative checksum does not match (https://sqlite.org/fileformat2.html#walformat); whatever
follows is ignored without a word, and ``PRAGMA quick_check`` only sees the database as
recovered. So a flipped byte in ``index.db-wal`` makes every command show an older, consistent
state: revoked tokens live again, rotations are undone. SQLite has no call that reports this,
hence this reader of the documented format.

The format: a 32-byte header (magic, version, page size, checkpoint sequence, two salts, a
checksum of the first 24 bytes), then frames of a 24-byte header (page number, database size
after a commit or 0, the two salts, a checksum running from the previous frame's over the first 8
header bytes and the page) and one page. The magic's low bit says in which byte order checksums
are summed. Frames that carry another salt after the valid ones are normal: leftovers of an
older generation after a checkpoint restarted the log. Frames written in this generation after
the last valid commit are normal too when none of them is a commit (a transaction that never
committed). A commit frame of this generation after the point where the chain breaks, though,
is a transaction that was committed and would be lost: that is damage.

Not detected: damage in the very last commit frame with nothing after it, which looks exactly
like a write torn by a power cut (SQLite's documented loss of the last transactions then).
"""

from __future__ import annotations

import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

_MAGIC = (0x377F0682, 0x377F0683)  # checksums summed little-endian / big-endian
_VERSION = 3007000
_HEADER = 32
_FRAME_HEADER = 24
_MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class WalDamage:
    """Committed frames SQLite would drop: from ``first_frame`` (1-based) on."""

    first_frame: int
    frames: int
    transactions: int


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-wal")


def check(db_path: Path) -> WalDamage | None:
    """The damage in ``db_path``'s WAL, or None (no WAL, an intact one, normal leftovers).

    A damage is confirmed by a second read, so that a frame another process was writing at the
    moment of the first read is not taken for one.
    """
    first = _scan(db_path)
    if first is None:
        return None
    second = _scan(db_path)
    return second if second is not None and second.first_frame == first.first_frame else None


def _scan(db_path: Path) -> WalDamage | None:
    try:
        data = wal_path(db_path).read_bytes()
    except FileNotFoundError:
        return None
    if len(data) <= _HEADER:
        return None
    magic, version, page_size, _, salt1, salt2, sum1, sum2 = struct.unpack_from(">8I", data)
    big = magic & 1 == 1
    if (
        magic not in _MAGIC
        or version != _VERSION
        or not _valid_page_size(page_size)
        or _checksum(data, 0, 24, 0, 0, big) != (sum1, sum2)
    ):
        return _damaged_header(db_path, data)
    frame_size = _FRAME_HEADER + page_size
    count = (len(data) - _HEADER) // frame_size
    sums = (sum1, sum2)
    valid = 0  # frames SQLite will read, up to the first one that breaks the chain
    while valid < count:
        offset = _HEADER + valid * frame_size
        page, _, frame_salt1, frame_salt2, frame_sum1, frame_sum2 = struct.unpack_from(
            ">6I", data, offset
        )
        if page == 0 or (frame_salt1, frame_salt2) != (salt1, salt2):
            break
        sums = _checksum(data, offset, 8, *sums, big)
        sums = _checksum(data, offset + _FRAME_HEADER, page_size, *sums, big)
        if sums != (frame_sum1, frame_sum2):
            break
        valid += 1
    committed = valid
    while committed and _commit(data, committed - 1, frame_size) == 0:
        committed -= 1  # frames after the last valid commit were never part of the database
    after = [n for n in range(valid, count) if _salts(data, n, frame_size) == (salt1, salt2)]
    lost = [n for n in after if _commit(data, n, frame_size)]
    if not lost or after == [valid]:  # only the broken frame itself: a torn last write
        return None
    return WalDamage(committed + 1, lost[-1] + 1 - committed, len(lost))


def _commit(data: bytes, number: int, frame_size: int) -> int:
    value: int = struct.unpack_from(">I", data, _HEADER + number * frame_size + 4)[0]
    return value


def _salts(data: bytes, number: int, frame_size: int) -> tuple[int, int]:
    salt1, salt2 = struct.unpack_from(">2I", data, _HEADER + number * frame_size + 8)
    return salt1, salt2


def _valid_page_size(size: int) -> bool:
    return 512 <= size <= 65536 and size & (size - 1) == 0


def _checksum(
    data: bytes, offset: int, length: int, sum1: int, sum2: int, big: bool
) -> tuple[int, int]:
    words = struct.unpack_from(f"{'>' if big else '<'}{length // 4}I", data, offset)
    for i in range(0, len(words), 2):
        sum1 = (sum1 + words[i] + sum2) & _MASK
        sum2 = (sum2 + words[i + 1] + sum1) & _MASK
    return sum1, sum2


def _damaged_header(db_path: Path, data: bytes) -> WalDamage | None:
    # SQLite ignores a WAL whose header is bad: every frame in it is lost. Without a trusted
    # header the page size comes from the database's own header.
    try:
        with db_path.open("rb") as db:
            head = db.read(18)
    except OSError:
        return None
    if len(head) < 18:
        return None
    page_size = struct.unpack_from(">H", head, 16)[0]
    page_size = 65536 if page_size == 1 else page_size
    frame_size = _FRAME_HEADER + page_size
    frames = (len(data) - _HEADER) // frame_size if page_size else 0
    commits = sum(1 for n in range(frames) if _commit(data, n, frame_size))
    return WalDamage(1, frames, commits) if commits else None


def accept_loss(db_path: Path, timeout: float) -> None:
    """Let SQLite recover the WAL up to the damage and fold that into the database, so the
    damaged frames are gone for good. Needs the store to itself (no bridge, no other command
    holding it); sqlite3.OperationalError (database is locked) otherwise."""
    conn = sqlite3.connect(db_path, timeout=timeout, isolation_level=None)
    try:
        # Exclusive: the log is recovered from the file by this connection alone, not read
        # through another process's index of it (which still lists the damaged frames).
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise sqlite3.OperationalError("database is locked")
    finally:
        conn.close()
