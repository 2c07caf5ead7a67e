"""The ``oauth_tokens`` table: access, refresh and authorization-code tokens, hashed.

Each is a ``mcpb_`` token (``vaults.tokens``): its key id is the primary key, its secret's
SHA-256 the only thing stored. ``load_access_tokens`` is what the verifier keeps in memory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vaults.index.database import Connection, Database
from vaults.index.records import LiveToken

# The verifier's state for an access token: valid until ``not_after`` (its expiry).
ACCESS_STATE = "oauth"
# Access tokens expired this recently stay known to the verifier (as lapsed, never valid), so
# that a session they opened survives until the client speaks with its refreshed token.
LAPSE_WINDOW = 86400.0


@dataclass(frozen=True, slots=True)
class TokenRow:
    kid: str
    grant_id: int
    kind: str  # access | refresh | code
    hash: bytes = field(repr=False)
    expires_at: float
    used_at: float | None


class OAuthTokens:
    """Queries of the ``oauth_tokens`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(
        self,
        kid: str,
        grant_id: int,
        kind: str,
        digest: bytes,
        now: float,
        expires_at: float,
        scopes: Sequence[str] | None = None,
    ) -> None:
        """``scopes``: narrower than the grant's (a refresh that asked for fewer), else None."""
        self._db.execute(
            "INSERT INTO oauth_tokens (kid, grant_id, kind, hash, scopes, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                kid, grant_id, kind, digest, None if scopes is None else json.dumps(list(scopes)),
                now, expires_at,
            ),
        )  # fmt: skip

    def get(self, kid: str) -> TokenRow | None:
        row = self._db.execute(
            "SELECT kid, grant_id, kind, hash, expires_at, used_at FROM oauth_tokens WHERE kid = ?",
            (kid,),
        ).fetchone()
        if row is None:
            return None
        kid, grant_id, kind, digest, expires_at, used_at = row
        return TokenRow(kid, int(grant_id), kind, bytes(digest), float(expires_at), used_at)

    def mark_used(self, kid: str, now: float) -> bool:
        """Mark a refresh token or code used; False if it already was (a reuse)."""
        cursor = self._db.execute(
            "UPDATE oauth_tokens SET used_at = ? WHERE kid = ? AND used_at IS NULL", (now, kid)
        )
        return cursor.rowcount > 0

    def delete(self, kid: str) -> None:
        self._db.execute("DELETE FROM oauth_tokens WHERE kid = ?", (kid,))

    def delete_expired(self, before: float) -> int:
        """Drop tokens expired before ``before`` (a used refresh token stays until it expires,
        so that its reuse is still detected)."""
        cursor = self._db.execute("DELETE FROM oauth_tokens WHERE expires_at < ?", (before,))
        return cursor.rowcount


def load_access_tokens(conn: Connection, now: float) -> list[LiveToken]:
    """The access tokens of live grants of live clients, unexpired or lapsed within
    ``LAPSE_WINDOW``, as the verifier holds them (it checks the expiry, ``not_after``)."""
    rows = conn.execute(
        "SELECT t.kid, t.hash, t.expires_at, COALESCE(t.scopes, g.scopes), c.name "
        "FROM oauth_tokens t "
        "JOIN oauth_grants g ON g.id = t.grant_id "
        "JOIN oauth_clients o ON o.client_id = g.client_id "
        "JOIN credentials c ON c.id = o.credential_id "
        "WHERE t.kind = 'access' AND t.expires_at > ? AND g.revoked_at IS NULL "
        "AND o.revoked_at IS NULL",
        (now - LAPSE_WINDOW,),
    ).fetchall()
    return [
        LiveToken(kid, bytes(digest), ACCESS_STATE, float(expires), _scopes(scopes), name, 0)
        for kid, digest, expires, scopes, name in rows
    ]


def _scopes(text: Any) -> tuple[str, ...]:
    return tuple(json.loads(text))
