"""Damaging an SQLite index's write-ahead log on purpose: its frames, a flipped byte."""

from __future__ import annotations

from pathlib import Path

from vaults.index import wal


def frames(index: Path) -> list[tuple[int, int]]:
    """(offset, commit) of every frame of the WAL."""
    data = wal.wal_path(index).read_bytes()
    page_size = int.from_bytes(data[8:12], "big")
    size = 24 + page_size
    return [
        (offset, int.from_bytes(data[offset + 4 : offset + 8], "big"))
        for offset in range(32, len(data) - size + 1, size)
    ]


def flip(index: Path, offset: int) -> None:
    path = wal.wal_path(index)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def damage_a_middle_commit(index: Path) -> tuple[int, int]:
    """Flip a byte of the page of the middle commit frame; returns (its number among the commit
    frames, how many commit frames there are)."""
    found = frames(index)
    commits = [number for number, (_, commit) in enumerate(found) if commit]
    middle = commits[len(commits) // 2]
    flip(index, found[middle][0] + 24 + 100)  # a byte of the page, not of the frame header
    return commits.index(middle), len(commits)
