"""The index's SQLite connection: pragmas, transactions, sqlite3 errors turned into StoreError."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vaults.errors import StoreError

BUSY_TIMEOUT_MS = 5000


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


class Database:
    """One connection to ``path``; changes go in ``with db.write():``, reads in ``db.read()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = connect(path)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction (nested uses join the outer one); rolls back on error."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._begin("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(exc, self.path) from exc
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several queries."""
        with self._lock:
            if self._depth:
                yield self._conn
                return
            self._begin("BEGIN")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise store_error(exc, self.path) from exc
            finally:
                self._depth = 0
                self._rollback()

    def _begin(self, statement: str) -> None:
        try:
            self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from exc
        self._depth = 1

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the transaction is gone either way
                self._conn.execute("ROLLBACK")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Run one statement (inside the caller's transaction, if any).

        An IntegrityError is raised as is, for the caller to say which row conflicts.
        """
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from exc
