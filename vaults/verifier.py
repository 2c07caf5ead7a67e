"""Verifying bridge tokens against the index, in memory, with no keyring access.

``TokenIndex`` keeps ``kid -> (hash, state, not_after, scopes, name, version)`` for the live token
versions and notices changes through ``PRAGMA data_version`` on its own connection: at most every
250 ms, and on an unknown key id (rate-limited by ``miss_interval``, by default not at all). The
pragma costs a few microseconds and the table is reloaded only when the index changed, so a flood
of garbage key ids never makes the verifier reread the index, a token is accepted as soon as it
is committed (a reader is never refused a token that rotation just made), and a revocation takes
effect within 250 ms.

``verify`` runs on every HTTP request the bridge serves, so what can be done once per token
version is done at reload: each entry carries its ``Principal``, and ``verify`` hands out that one
object (callers may key per-token work on it).
"""

from __future__ import annotations

import hmac
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vaults import tokens
from vaults.errors import StoreError
from vaults.index import LiveToken, connect, load_live_tokens, store_error


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
        index_path: Path,
        accepted: Iterable[str] | None = None,
        *,
        check_interval: float = 0.25,
        miss_interval: float = 0.0,
    ) -> None:
        if not index_path.is_file():
            raise StoreError(
                f"no vault index at {index_path}: run mcp-vault init (or point MCP_VAULT_DIR "
                "at the store the tokens were minted in)"
            )
        self.index_path = index_path
        self.accepted = None if accepted is None else frozenset(accepted)
        self.check_interval = check_interval
        self.miss_interval = miss_interval
        self._lock = threading.Lock()
        self._conn = connect(index_path)
        self._entries: dict[str, tuple[LiveToken, Principal]] = {}
        self._data_version = -1
        self._checked_at = 0.0
        self._missed_at = -miss_interval
        with self._lock:
            self._reload()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> TokenIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"TokenIndex({str(self.index_path)!r}, tokens={len(self._entries)})"

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
                self._refresh(now)
                found = self._entries.get(parsed.kid)
        if found is None:
            return None
        entry, principal = found
        if not hmac.compare_digest(tokens.hash_secret(parsed.secret), entry.hash):
            return None
        if entry.state == "previous" and (
            entry.not_after is None or entry.not_after <= time.time()
        ):
            return None
        return principal

    def refresh(self) -> None:
        """Reload now if the index changed (verify does this by itself, rate-limited)."""
        with self._lock:
            self._refresh(time.monotonic())

    def _refresh(self, now: float) -> None:
        self._checked_at = now
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise store_error(exc, self.index_path) from exc
        if version != self._data_version:
            self._reload()

    def _reload(self) -> None:
        try:
            self._conn.execute("BEGIN")
            try:
                self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                live = load_live_tokens(self._conn, self.accepted)
            finally:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise store_error(exc, self.index_path) from exc
        self._entries = {
            entry.kid: (entry, Principal(entry.name, entry.kid, entry.version, entry.scopes))
            for entry in live
        }
        self._checked_at = time.monotonic()
