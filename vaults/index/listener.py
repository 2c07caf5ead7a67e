"""Changes of a PostgreSQL index, pushed: ``LISTEN mcp_vault`` on a session of its own, in a thread.

Every write transaction that changed the store announces its new revision with ``NOTIFY`` as it
commits (``vaults.index.postgres``). The listener thread hands each new revision of its schema to
``on_change`` (the verifier reloads then, off the request path), and every ``reconcile_interval``
it reads the revision itself, as a safety net for a notification it could not get (its
connection dropped, or someone changed the tables by hand). After a lost connection it
reconnects with a backoff and reconciles at once. ``changed(strict=True)`` reads the revision
from the database, for the verifier's check on an unknown key id (a token minted on another
replica a moment ago, whose notification may still be on its way).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from vaults.errors import StoreError
from vaults.index.database import Connection
from vaults.index.postgres import CHANNEL, PostgresConnection, connect, describe, pg_error

T = TypeVar("T")
_REVISION = "SELECT value FROM meta WHERE key = 'revision'"
_POLL = 0.2  # how long one wait for notifications lasts: the thread ends this soon after close()
_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)

log = logging.getLogger("vaults.index.listener")


class PostgresChanges:
    """The revision of one schema's store as notified, and snapshots read on their own session."""

    def __init__(
        self,
        url: str,
        *,
        on_change: Callable[[int], None] | None = None,
        reconcile_interval: float = 2.0,
    ) -> None:
        self.url = url
        self.location = describe(url)
        # Weak: a reader that is dropped without close() is collected, and its finalizer
        # stops this thread.
        self._on_change = None if on_change is None else weakref.WeakMethod(on_change)
        self.reconcile_interval = reconcile_interval
        self.notified = 0  # newest revision heard of (notification or reconcile)
        self._loaded = -1  # revision of the last snapshot
        self._lock = threading.Lock()  # the query session
        self._query: psycopg.Connection[Any] | None = connect(url)
        row = self._query.execute("SELECT current_schema()").fetchone()
        self.schema = str(row[0]) if row else ""
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="mcp-vault-listen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()  # the thread ends within _POLL and closes its own session
        with self._lock:
            if self._query is not None:
                self._query.close()
                self._query = None

    def wait_listening(self, timeout: float) -> bool:
        """Block until the listener session has run LISTEN (tests, and benchmarks)."""
        return self._listening.wait(timeout)

    def changed(self, *, strict: bool = False) -> bool:
        if strict:
            # The caller reloads itself when this says so, and may hold the lock its own
            # on_change takes: the callback is for the listener thread only.
            self._heard(self._read_revision(), call=False)
        return self.notified != self._loaded

    def snapshot(self, load: Callable[[Connection], T]) -> T:
        with self._lock:
            conn = self._session()
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                try:
                    wrapped = PostgresConnection(conn, self.location)
                    revision = _revision(wrapped.execute(_REVISION).fetchone())
                    result = load(wrapped)
                finally:
                    conn.execute("ROLLBACK")
            except psycopg.Error as exc:
                self._drop()
                raise pg_error(exc, self.location) from exc
            except StoreError:
                self._drop()
                raise
        self._loaded = revision
        if revision > self.notified:
            self.notified = revision
        return result

    def _session(self) -> psycopg.Connection[Any]:
        if self._stop.is_set():
            raise StoreError(f"the change listener of {self.location} is closed")
        if self._query is None or self._query.closed:
            self._query = connect(self.url)
        return self._query

    def _drop(self) -> None:
        if self._query is not None:
            self._query.close()
            self._query = None

    def _read_revision(self) -> int:
        with self._lock:
            try:
                return _revision(self._session().execute(_REVISION).fetchone())
            except psycopg.Error as exc:
                self._drop()
                raise pg_error(exc, self.location) from exc

    def _heard(self, revision: int, *, call: bool = True) -> None:
        if revision <= self.notified or self._stop.is_set():
            return
        self.notified = revision
        if not call:
            return
        on_change = None if self._on_change is None else self._on_change()
        if on_change is not None and revision != self._loaded:
            try:
                on_change(revision)
            except StoreError as exc:
                log.warning("reloading after revision %d failed: %s", revision, exc)

    def _listen(self) -> None:
        failures = 0
        while not self._stop.is_set():
            conn = None
            try:
                conn = connect(self.url, name="mcp-vault-listener")
                conn.execute(f"LISTEN {CHANNEL}")
                self._listening.set()
                if failures:
                    log.warning("listening to %s again", self.location)
                failures = 0
                self._follow(conn)
            except (psycopg.Error, StoreError) as exc:
                self._listening.clear()
                if self._stop.is_set():
                    return  # closed meanwhile: the error is the session going away
                delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1
                log.warning(
                    "lost the change notifications of %s (%s); retrying in %g s",
                    self.location, " ".join(str(exc).split()), delay,
                )  # fmt: skip
                self._stop.wait(delay)
            finally:
                if conn is not None:
                    conn.close()

    def _follow(self, conn: psycopg.Connection[Any]) -> None:
        """Hand on notifications until stopped; reconcile now and every reconcile_interval."""
        reconciled = 0.0
        prefix = f"{self.schema}:"
        while not self._stop.is_set():
            if time.monotonic() - reconciled >= self.reconcile_interval:
                reconciled = time.monotonic()
                self._heard(_revision(conn.execute(_REVISION).fetchone()))
            for notice in conn.notifies(timeout=_POLL):
                if notice.payload.startswith(prefix):
                    self._heard(_revision((notice.payload[len(prefix) :],)))


def _revision(row: Any) -> int:
    try:
        return 0 if row is None else int(row[0])
    except (TypeError, ValueError):
        return 0
