"""SQLite helpers shared by the index and the encrypted backend."""

from __future__ import annotations

import sqlite3
import time


def enable_wal(conn: sqlite3.Connection, *, timeout: float = 5.0) -> None:
    """Switch ``conn``'s database to WAL, waiting out a concurrent opener.

    Changing the journal mode needs an exclusive lock and SQLite does not apply the busy
    timeout to it: two processes opening a new store at once would otherwise see
    ``database is locked`` at once. Retries with a short backoff until ``timeout``.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
