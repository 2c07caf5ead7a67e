"""The ``oauth_requests`` table: interactive authorization requests waiting for the operator.

A request carries what the token endpoint checks later (redirect URI, PKCE challenge, scopes,
resource); approval links it to the grant its authorization code is issued under.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vaults.index.database import Database

_SELECT = (
    "SELECT id, user_code, client_id, redirect_uri, redirect_explicit, code_challenge, scopes, "
    "state, resource, status, grant_id, created_at, expires_at, requester FROM oauth_requests"
)


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: str
    user_code: str
    client_id: str
    redirect_uri: str
    redirect_explicit: bool
    code_challenge: str
    scopes: tuple[str, ...]
    state: str | None
    resource: str | None
    status: str  # pending | approved | denied | issued
    grant_id: int | None
    created_at: float
    expires_at: float
    requester: str | None


def _request(row: tuple[Any, ...]) -> RequestRow:
    (rid, code, client_id, uri, explicit, challenge, scopes, state, resource, status, grant_id,
     created, expires, requester) = row  # fmt: skip
    return RequestRow(
        rid, code, client_id, uri, bool(explicit), challenge, tuple(json.loads(scopes)), state,
        resource, status, None if grant_id is None else int(grant_id), float(created),
        float(expires), requester,
    )  # fmt: skip


class OAuthRequests:
    """Queries of the ``oauth_requests`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(
        self,
        request_id: str,
        user_code: str,
        client_id: str,
        *,
        redirect_uri: str,
        redirect_explicit: bool,
        code_challenge: str,
        scopes: Sequence[str],
        state: str | None,
        resource: str | None,
        now: float,
        expires_at: float,
        requester: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO oauth_requests (id, user_code, client_id, redirect_uri, "
            "redirect_explicit, code_challenge, scopes, state, resource, status, created_at, "
            "expires_at, requester) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            (
                request_id, user_code, client_id, redirect_uri, int(redirect_explicit),
                code_challenge, json.dumps(list(scopes)), state, resource, now, expires_at,
                requester,
            ),
        )  # fmt: skip

    def get(self, request_id: str) -> RequestRow | None:
        row = self._db.execute(f"{_SELECT} WHERE id = ?", (request_id,)).fetchone()
        return None if row is None else _request(row)

    def by_user_code(self, user_code: str) -> RequestRow | None:
        row = self._db.execute(f"{_SELECT} WHERE user_code = ?", (user_code,)).fetchone()
        return None if row is None else _request(row)

    def by_grant(self, grant_id: int) -> RequestRow | None:
        row = self._db.execute(f"{_SELECT} WHERE grant_id = ?", (grant_id,)).fetchone()
        return None if row is None else _request(row)

    def all(self) -> list[RequestRow]:
        return [_request(row) for row in self._db.execute(f"{_SELECT} ORDER BY created_at")]

    def waiting(self, client_id: str, now: float) -> int:
        """How many of the client's requests still wait for the operator."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM oauth_requests WHERE client_id = ? AND status = 'pending' "
            "AND expires_at > ?",
            (client_id, now),
        ).fetchone()
        return int(row[0])

    def set_status(self, request_id: str, status: str, grant_id: int | None = None) -> None:
        self._db.execute(
            "UPDATE oauth_requests SET status = ?, grant_id = COALESCE(?, grant_id) WHERE id = ?",
            (status, grant_id, request_id),
        )

    def delete_expired(self, before: float) -> int:
        cursor = self._db.execute("DELETE FROM oauth_requests WHERE expires_at < ?", (before,))
        return cursor.rowcount
