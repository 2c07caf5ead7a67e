"""Verifying bridge tokens against the index, in memory, with no keyring access.

``TokenIndex`` keeps ``kid -> (hash, state, not_after, scopes, name, version)`` for the live token
versions and reloads it when the index changed, so a lookup never touches the database:

- SQLite: changes are seen through ``PRAGMA data_version`` on its own connection, at most every
  250 ms, and on every unknown key id (``miss_interval``, by default 0). The pragma opens a read
  transaction (about 10 µs) and the table is reloaded only when the index changed, so a flood of
  garbage key ids never makes the verifier reread the index, a token is accepted as soon as it
  is committed (a reader is never refused a token that rotation just made: a rate limit here
  would refuse it after any recent miss), and a revocation takes effect within 250 ms.
- PostgreSQL: a listener thread (``vaults.index.listener``) hears each committed change through
  ``LISTEN``/``NOTIFY`` and reloads the table at once, off the request path, so a revocation on any
  replica is refused by every replica within milliseconds; it also reconciles every
  ``reconcile_interval`` (2 s) in case a notification was lost. An unknown key id asks the
  database for its revision (one primary-key read), at most every ``miss_interval`` (50 ms by
  default): a token minted on another replica a moment ago is accepted at once, and a flood of
  garbage key ids costs the database at most 20 reads a second.

``verify`` runs on every HTTP request the bridge serves, so what can be done once per token
version is done at reload: each entry carries its ``Principal``, and ``verify`` hands out that one
object (callers may key per-token work on it).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vaults import tokens
from vaults.errors import StoreError
from vaults.index import ACCESS_STATE, Changes, LiveToken, load_live_tokens
from vaults.index.sqlite import SqliteChanges
from vaults.paths import DATABASE_SCHEMES

# Unknown key ids ask PostgreSQL at most this often by default (SQLite asks on every one).
POSTGRES_MISS_INTERVAL = 0.05

log = logging.getLogger("vaults.verifier")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who presented a valid token: the credential's name, key id, version and scopes."""

    name: str
    kid: str
    version: int
    scopes: tuple[str, ...]


class TokenIndex:
    """An in-memory, self-refreshing table of the tokens a bridge accepts; thread-safe."""

    def __init__(
        self,
        index: Path | str,
        accepted: Iterable[str] | None = None,
        *,
        check_interval: float = 0.25,
        miss_interval: float | None = None,
        reconcile_interval: float = 2.0,
    ) -> None:
        """``index`` is the SQLite file of a store, or the URL of its PostgreSQL database."""
        self.accepted = None if accepted is None else frozenset(accepted)
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[LiveToken, Principal]] = {}
        self._checked_at = 0.0
        self._changes: Changes
        # Held until the table is loaded: the listener thread may hear of a change (and call
        # _notified, which takes the lock) before this constructor has finished.
        with self._lock:
            if isinstance(index, str) and index.startswith(DATABASE_SCHEMES):
                from vaults.index.listener import PostgresChanges

                self.index_path: Path | None = None
                self.miss_interval = (
                    POSTGRES_MISS_INTERVAL if miss_interval is None else miss_interval
                )
                self._changes = PostgresChanges(
                    index, on_change=self._notified, reconcile_interval=reconcile_interval
                )
                self.location = self._changes.location
            else:
                path = Path(index)
                if not path.is_file():
                    raise StoreError(
                        f"no vault index at {path}: run mcp-vault init (or point MCP_VAULT_DIR "
                        "at the store the tokens were minted in)"
                    )
                self.index_path = path
                self.location = str(path)
                self.miss_interval = 0.0 if miss_interval is None else miss_interval
                self._changes = SqliteChanges(path)
            self._missed_at = -self.miss_interval
            # A verifier dropped without close() still lets go of its connections (and thread).
            self._closer = weakref.finalize(self, self._changes.close)
            try:
                self._reload()
            except BaseException:
                self._closer()
                raise

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> TokenIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"TokenIndex({self.location!r}, tokens={len(self._entries)})"

    def verify(self, token: str) -> Principal | None:
        """The principal ``token`` belongs to, or None (malformed, unknown, revoked, expired)."""
        parsed = tokens.parse(token)
        if parsed is None:
            return None
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at >= self.check_interval:
                self._refresh(now)
            found = self._entries.get(parsed.kid)
            if found is None and now - self._missed_at >= self.miss_interval:
                self._missed_at = now
                self._refresh(now, strict=True)
                found = self._entries.get(parsed.kid)
        if found is None:
            return None
        entry, principal = found
        if not hmac.compare_digest(tokens.hash_secret(parsed.secret), entry.hash):
            return None
        if entry.not_after is not None:  # a previous version in grace, or an OAuth access token
            if entry.not_after <= time.time():
                return None
        elif entry.state == "previous":
            return None
        return principal

    def lapsed(self, token: str) -> bool:
        """Whether ``token`` is an OAuth access token that expired while its grant lives on
        (its client refreshes it): what it opened may stay open; it is not valid itself."""
        parsed = tokens.parse(token)
        if parsed is None:
            return False
        found = self._entries.get(parsed.kid)
        if found is None or found[0].state != ACCESS_STATE:
            return False
        return hmac.compare_digest(tokens.hash_secret(parsed.secret), found[0].hash)

    def refresh(self) -> None:
        """Reload now if the index changed (verify does this by itself, rate-limited)."""
        with self._lock:
            self._refresh(time.monotonic(), strict=True)

    def _refresh(self, now: float, *, strict: bool = False) -> None:
        self._checked_at = now
        try:
            if self._changes.changed(strict=strict):
                self._reload()
        except StoreError as exc:
            if self.index_path is not None:
                raise
            # The database is away: keep serving the table as last loaded; the listener
            # reconnects and reloads once it is back.
            log.warning("cannot check the index for changes, keeping the tokens known: %s", exc)

    def _notified(self, revision: int) -> None:
        with self._lock:
            self._reload()

    def _reload(self) -> None:
        live = self._changes.snapshot(lambda conn: load_live_tokens(conn, self.accepted))
        self._entries = {
            entry.kid: (entry, Principal(entry.name, entry.kid, entry.version, entry.scopes))
            for entry in live
        }
        self._checked_at = time.monotonic()
