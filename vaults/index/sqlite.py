"""The index in SQLite (``index.db`` in the store directory, WAL): the embedded default.

Writers take ``BEGIN IMMEDIATE`` one at a time; other processes learn of a change through
``PRAGMA data_version``. Before SQLite opens the file, its write-ahead log is checked (``wal``):
a damaged one is an IndexDamageError, unless ``accept_wal_loss``, in which case the state before
the damage is kept for good and ``accepted_loss`` says what was dropped.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from vaults.errors import ConflictError, IndexDamageError, StoreError
from vaults.index import wal
from vaults.index.database import Connection, Cursor, Database, Hold
from vaults.index.wal import WalDamage
from vaults.paths import ensure_private_file, make_private
from vaults.sqlite import enable_wal

FILENAME = "index.db"
BUSY_TIMEOUT_MS = 5000

T = TypeVar("T")


def store_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """Translate a sqlite3 error into a StoreError that says how to fix it."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        hint = "another mcp-vault process holds it too long; try again"
    elif "readonly" in lowered or "read-only" in lowered:
        hint = "check that you own the store directory and its files (dir 0700, files 0600)"
    elif "unable to open" in lowered:
        hint = "check that the store directory exists and is yours (mcp-vault init creates it)"
    elif "not a database" in lowered or "malformed" in lowered:
        hint = "the file is damaged; move it aside and run mcp-vault init, or restore a backup"
    else:
        hint = "run mcp-vault doctor"
    return StoreError(f"index {path}: {text}; {hint}")


def connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing index with the store's pragmas (WAL, busy timeout)."""
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise store_error(exc, path) from exc
    return conn


class SqliteConnection:
    """A sqlite3 connection whose errors come out as StoreError (ConflictError for a key)."""

    __slots__ = ("_conn", "_path")

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"index {self._path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise store_error(exc, self._path) from exc


class SqliteDatabase(Database):
    """``index.db`` of a store directory: one connection, changes in ``with db.write():``."""

    engine = "sqlite"
    auto_upgrade = True

    def __init__(self, path: Path) -> None:
        self.path = self._file = path
        self.location = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = connect(path)
        self._statements = SqliteConnection(self._conn, path)

    @classmethod
    def open(
        cls, store_dir: Path, *, create: bool = True, accept_wal_loss: bool = False
    ) -> tuple[SqliteDatabase, WalDamage | None]:
        """The index of ``store_dir`` in WAL mode (created if ``create``), and the log damage
        accepted on the way (see the module docstring)."""
        path = store_dir / FILENAME
        fresh = not path.exists()
        if fresh:
            if not create:
                raise StoreError(
                    f"no vault store at {store_dir}: run mcp-vault init, "
                    "or point --store / MCP_VAULT_DIR at an existing store"
                )
            ensure_private_file(path)
        accepted = None if fresh else _check_wal(path, accept=accept_wal_loss)
        db = cls(path)
        try:
            enable_wal(db._conn)
        except sqlite3.Error as exc:
            db.close()
            raise store_error(exc, path) from exc
        if fresh:
            # Later -wal/-shm files inherit the database file's mode from SQLite.
            for suffix in ("", "-wal", "-shm"):
                make_private(path.with_name(path.name + suffix))
        return db, accepted

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._statements
                finally:
                    self._depth -= 1
                return
            self._begin("BEGIN IMMEDIATE")
            try:
                yield self._statements
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(exc, self._file) from exc
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._lock:
            if self._depth:
                yield self._statements
                return
            self._begin("BEGIN")
            try:
                yield self._statements
            except sqlite3.Error as exc:
                raise store_error(exc, self._file) from exc
            finally:
                self._depth = 0
                self._rollback()

    def _begin(self, statement: str) -> None:
        try:
            self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise store_error(exc, self._file) from exc
        self._depth = 1

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the transaction is gone either way
                self._conn.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._statements.execute(sql, params)

    def schema_version(self, conn: Connection) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, conn: Connection, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def hold(self, key: str) -> Hold | None:
        return Hold()

    def integrity(self) -> tuple[bool, str]:
        with self.read() as conn:
            result = str(conn.execute("PRAGMA quick_check").fetchone()[0])
        damage = wal.check(self._file)
        detail = f"integrity {result}"
        if damage is not None:
            detail += (
                f", log damaged ({damage.frames} frames, {damage.transactions} committed "
                f"transactions from frame {damage.first_frame} on would be dropped)"
            )
        return result == "ok" and damage is None, detail


class SqliteChanges:
    """Changes of ``index.db`` seen through ``PRAGMA data_version`` on a connection of its own:
    about 10 µs per check (a read transaction); it moves with every commit of another connection."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn = connect(path)
        self._statements = SqliteConnection(self._conn, path)
        self._version = -1

    def _data_version(self) -> int:
        return int(self._statements.execute("PRAGMA data_version").fetchone()[0])

    def changed(self, *, strict: bool = False) -> bool:
        return self._data_version() != self._version

    def snapshot(self, load: Callable[[Connection], T]) -> T:
        try:
            self._conn.execute("BEGIN")
            try:
                self._version = self._data_version()
                return load(self._statements)
            finally:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise store_error(exc, self._path) from exc

    def close(self) -> None:
        self._conn.close()


def _check_wal(path: Path, *, accept: bool) -> WalDamage | None:
    damage = wal.check(path)
    if damage is None:
        return None
    lost = (
        f"{damage.frames} frames ({damage.transactions} committed transactions) from frame "
        f"{damage.first_frame} on"
    )
    if not accept:
        raise IndexDamageError(
            f"index {wal.wal_path(path)} is damaged: SQLite would silently drop {lost}, and the "
            "store would look older than it is; restore the store directory from a backup, or "
            "keep the state before the damage with mcp-vault doctor --accept-wal-loss",
            frames=damage.frames,
            transactions=damage.transactions,
        )
    try:
        wal.accept_loss(path, BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StoreError(
            f"index {path}: cannot drop the damaged log ({exc}); stop the bridge and every other "
            "mcp-vault using this store, then retry"
        ) from exc
    return damage
