"""Opening a new store while another process holds the database must wait, not fail."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from vaults.sqlite import enable_wal


def test_enable_wal_waits_for_a_concurrent_opener(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    release.start()
    try:
        opener = sqlite3.connect(path, timeout=0.0, isolation_level=None)
        enable_wal(opener, timeout=5.0)
        assert opener.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        opener.close()
    finally:
        release.join()
        holder.close()


def test_enable_wal_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, timeout=0.0, isolation_level=None)
    try:
        try:
            enable_wal(opener, timeout=0.1)
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
        else:
            raise AssertionError("enable_wal returned while the database was locked")
    finally:
        opener.close()
        holder.execute("COMMIT")
        holder.close()
