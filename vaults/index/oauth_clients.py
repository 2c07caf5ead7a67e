"""The ``oauth_clients`` table: which token credentials are OAuth clients, and their metadata.

A client's secrets are the versions of its credential (hash and key id in ``versions``), so this
table holds no secret; ``client_id`` is public and safe to log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vaults.index.database import Database
from vaults.index.records import Record

_SELECT = (
    "SELECT c.name, o.client_id, c.scopes, o.redirect_uris, o.grant_types, o.auth_method, "
    "o.dynamic, o.revoked_at, o.credential_id FROM oauth_clients o "
    "JOIN credentials c ON c.id = o.credential_id"
)


@dataclass(frozen=True, slots=True)
class OAuthClient(Record):
    """An OAuth client of the bridge: its credential's name, public id, scopes and metadata."""

    name: str
    client_id: str
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    auth_method: str  # client_secret_basic | client_secret_post | none
    dynamic: bool  # registered through RFC 7591 dynamic registration
    revoked: bool
    credential_id: int

    @property
    def public(self) -> bool:
        """A client with no secret (PKCE only)."""
        return self.auth_method == "none"


def _client(row: tuple[Any, ...]) -> OAuthClient:
    name, client_id, scopes, uris, grants, method, dynamic, revoked_at, cid = row
    return OAuthClient(
        name=name,
        client_id=client_id,
        scopes=tuple(json.loads(scopes)),
        redirect_uris=tuple(json.loads(uris)),
        grant_types=tuple(json.loads(grants)),
        auth_method=method,
        dynamic=bool(dynamic),
        revoked=revoked_at is not None,
        credential_id=int(cid),
    )


class OAuthClients:
    """Queries of the ``oauth_clients`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def by_client_id(self, client_id: str) -> OAuthClient | None:
        row = self._db.execute(f"{_SELECT} WHERE o.client_id = ?", (client_id,)).fetchone()
        return None if row is None else _client(row)

    def by_name(self, name: str) -> OAuthClient | None:
        row = self._db.execute(f"{_SELECT} WHERE c.name = ?", (name,)).fetchone()
        return None if row is None else _client(row)

    def all(self) -> list[OAuthClient]:
        return [_client(row) for row in self._db.execute(f"{_SELECT} ORDER BY c.name")]

    def names(self) -> set[str]:
        query = "SELECT c.name FROM oauth_clients o JOIN credentials c ON c.id = o.credential_id"
        return {row[0] for row in self._db.execute(query)}

    def insert(
        self,
        credential_id: int,
        client_id: str,
        *,
        redirect_uris: Sequence[str],
        grant_types: Sequence[str],
        auth_method: str,
        dynamic: bool,
        now: float,
    ) -> None:
        self._db.execute(
            "INSERT INTO oauth_clients (credential_id, client_id, redirect_uris, grant_types, "
            "auth_method, dynamic, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                credential_id, client_id, json.dumps(list(redirect_uris)),
                json.dumps(list(grant_types)), auth_method, int(dynamic), now,
            ),
        )  # fmt: skip

    def revoke(self, client_id: str, now: float) -> None:
        self._db.execute(
            "UPDATE oauth_clients SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL",
            (now, client_id),
        )
