"""The ``oauth_grants`` table: one row per consent (a refresh-token family).

Revoking a grant ends every token issued under it at once: the verifier loads access tokens only
of grants that are not revoked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vaults.index.database import Database

_SELECT = "SELECT id, client_id, scopes, resource, revoked_at FROM oauth_grants"


@dataclass(frozen=True, slots=True)
class Grant:
    id: int
    client_id: str
    scopes: tuple[str, ...]
    resource: str | None
    revoked: bool


def _grant(row: tuple[Any, ...]) -> Grant:
    gid, client_id, scopes, resource, revoked_at = row
    return Grant(int(gid), client_id, tuple(json.loads(scopes)), resource, revoked_at is not None)


class OAuthGrants:
    """Queries of the ``oauth_grants`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(
        self,
        client_id: str,
        scopes: Sequence[str],
        resource: str | None,
        now: float,
        origin: str | None = None,
    ) -> int:
        """A new grant; ``origin`` says what made it when that matters later (``link:VAULT``)."""
        row = self._db.execute(
            "INSERT INTO oauth_grants (client_id, scopes, resource, origin, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (client_id, json.dumps(list(scopes)), resource, origin, now),
        ).fetchone()
        return int(row[0])

    def revoke_older(self, client_id: str, origin: str, keep: int, why: str, now: float) -> int:
        """End the client's other live grants of ``origin`` (all but ``keep``)."""
        cursor = self._db.execute(
            "UPDATE oauth_grants SET revoked_at = ?, revoked_why = ? WHERE client_id = ? "
            "AND origin = ? AND id <> ? AND revoked_at IS NULL",
            (now, why, client_id, origin, keep),
        )
        return cursor.rowcount

    def get(self, grant_id: int) -> Grant | None:
        row = self._db.execute(f"{_SELECT} WHERE id = ?", (grant_id,)).fetchone()
        return None if row is None else _grant(row)

    def revoke(self, grant_id: int, why: str, now: float) -> bool:
        """End the grant (and so every token of its family); False if it already was."""
        cursor = self._db.execute(
            "UPDATE oauth_grants SET revoked_at = ?, revoked_why = ? "
            "WHERE id = ? AND revoked_at IS NULL",
            (now, why, grant_id),
        )
        return cursor.rowcount > 0

    def revoke_of_client(self, client_id: str, why: str, now: float) -> int:
        cursor = self._db.execute(
            "UPDATE oauth_grants SET revoked_at = ?, revoked_why = ? "
            "WHERE client_id = ? AND revoked_at IS NULL",
            (now, why, client_id),
        )
        return cursor.rowcount
