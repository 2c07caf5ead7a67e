"""Interactive authorization (RFC 6749 §4.1 with PKCE S256): the operator's consent, then a
one-time authorization code.

``/authorize`` files a pending request with a short user code; the operator approves it with
``mcp-vault oauth approve CODE`` (or denies it); the consent page then issues the code once and
sends the browser to the client's redirect URI. A code is spent by its exchange; presenting it a
second time ends the grant it was exchanged for (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence

from vaults import audit
from vaults.errors import NotFoundError, OAuthError, UsageError
from vaults.index import Index, OAuthClient, RequestRow
from vaults.oauth.grants import Grants, find, granted_scopes, mint
from vaults.oauth.models import CodeGrant, IssuedTokens, PendingAuthorization

# What an unauthenticated /authorize may leave in the index: bounded fields, a bounded queue.
MAX_FIELD = 512
MAX_PENDING_PER_CLIENT = 20
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of a SHA-256 digest (RFC 7636)

# No 0/O, 1/I/L: a code read off a screen and typed into a terminal.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_user_code() -> str:
    half = lambda: "".join(secrets.choice(_CODE_ALPHABET) for _ in range(4))  # noqa: E731
    return f"{half()}-{half()}"


def normalize_user_code(code: str) -> str:
    cleaned = code.strip().upper().replace(" ", "")
    if len(cleaned) == 8 and "-" not in cleaned:
        cleaned = f"{cleaned[:4]}-{cleaned[4:]}"
    return cleaned


class Consent:
    """Pending requests, the operator's decisions, and authorization codes."""

    def __init__(self, index: Index, grants: Grants, *, code_ttl: float) -> None:
        self.index = index
        self.grants = grants
        self.code_ttl = code_ttl

    def _pending(self, row: RequestRow) -> PendingAuthorization:
        client = self.index.oauth_clients.by_client_id(row.client_id)
        assert client is not None  # the row is deleted with its client
        status = row.status
        if status in ("pending", "approved") and row.expires_at <= time.time():
            status = "expired"
        return PendingAuthorization(
            row.id, row.user_code, client, row.redirect_uri, row.scopes, row.state, status,
            row.expires_at, row.requester, row.created_at,
        )  # fmt: skip

    def request(
        self,
        client: OAuthClient,
        *,
        redirect_uri: str,
        redirect_uri_provided_explicitly: bool,
        code_challenge: str,
        scopes: Sequence[str] | None,
        state: str | None,
        resource: str | None,
        requester: str | None = None,
    ) -> PendingAuthorization:
        """File a request for the operator; ``requester`` (the caller's address and user agent)
        is shown beside it, so that the operator approves only the code their own browser shows."""
        if "authorization_code" not in client.grant_types or client.revoked:
            raise OAuthError(
                "unauthorized_client", "this client may not use the authorization_code grant"
            )
        if not _CHALLENGE.match(code_challenge):
            raise OAuthError("invalid_request", "code_challenge must be an S256 challenge")
        for name, value in (("state", state), ("resource", resource), ("requester", requester)):
            if value is not None and len(value) > MAX_FIELD:
                raise OAuthError("invalid_request", f"{name} is over {MAX_FIELD} characters")
        granted = granted_scopes(client, scopes)
        request_id = secrets.token_urlsafe(24)
        with self.index.write() as conn:
            now = time.time()
            self.index.oauth_requests.delete_expired(now - 86400.0)
            waiting = self.index.oauth_requests.waiting(client.client_id, now)
            if waiting >= MAX_PENDING_PER_CLIENT:
                raise OAuthError(
                    "temporarily_unavailable",
                    f"{waiting} requests of this client already wait for approval",
                )
            user_code = new_user_code()
            while self.index.oauth_requests.by_user_code(user_code) is not None:
                user_code = new_user_code()
            self.index.oauth_requests.insert(
                request_id, user_code, client.client_id, redirect_uri=redirect_uri,
                redirect_explicit=redirect_uri_provided_explicitly, code_challenge=code_challenge,
                scopes=granted, state=state, resource=resource, now=now,
                expires_at=now + self.code_ttl, requester=requester,
            )  # fmt: skip
            audit.record(conn, "oauth.request", credential=client.name, detail=f"code {user_code}")
            row = self.index.oauth_requests.get(request_id)
            assert row is not None
            return self._pending(row)

    def pending(self) -> list[PendingAuthorization]:
        with self.index.read():
            return [self._pending(row) for row in self.index.oauth_requests.all()]

    def get(self, request_id: str) -> PendingAuthorization | None:
        with self.index.read():
            row = self.index.oauth_requests.get(request_id)
            return None if row is None else self._pending(row)

    def decide(self, user_code: str, *, approve: bool) -> PendingAuthorization:
        """The operator approves (a grant is made) or denies the request shown as ``user_code``."""
        code = normalize_user_code(user_code)
        with self.index.write() as conn:
            row = self.index.oauth_requests.by_user_code(code)
            if row is None:
                raise NotFoundError(
                    f"no authorization request with code {code}; see mcp-vault oauth pending"
                )
            found = self._pending(row)
            if found.status != "pending":
                raise UsageError(f"the request {code} is {found.status}, not pending")
            grant_id = None
            if approve:
                grant = self.grants.new_grant(found.client, row.scopes, row.resource)
                grant_id = grant.id
            status = "approved" if approve else "denied"
            self.index.oauth_requests.set_status(row.id, status, grant_id)
            audit.record(
                conn, f"oauth.{'approve' if approve else 'deny'}", credential=found.client.name,
                detail=f"code {code}",
            )  # fmt: skip
            updated = self.index.oauth_requests.get(row.id)
            assert updated is not None
            return self._pending(updated)

    def issue_code(self, request_id: str) -> str:
        """The authorization code of an approved request, once (then the request is issued)."""
        with self.index.write() as conn:
            row = self.index.oauth_requests.get(request_id)
            if row is None:
                raise OAuthError("invalid_request", "unknown authorization request")
            found = self._pending(row)
            if found.status != "approved" or row.grant_id is None:
                raise OAuthError("invalid_request", f"the authorization request is {found.status}")
            code, kid = mint(self.index, row.grant_id, "code", self.code_ttl, time.time())
            self.index.oauth_requests.set_status(row.id, "issued")
            audit.record(conn, "oauth.code", credential=found.client.name, kid=kid)
            return code

    def load_code(self, client: OAuthClient, code: str) -> CodeGrant | None:
        """What a code is bound to, or None if it is unknown or another client's."""
        with self.index.read():
            row = find(self.index, code, "code")
            grant = None if row is None else self.index.oauth_grants.get(row.grant_id)
            request = None if grant is None else self.index.oauth_requests.by_grant(grant.id)
        if row is None or grant is None or request is None or grant.client_id != client.client_id:
            return None
        return CodeGrant(
            client.client_id, request.redirect_uri, request.redirect_explicit,
            request.code_challenge, grant.scopes, row.expires_at, grant.resource,
        )  # fmt: skip

    def exchange(self, client: OAuthClient, code: str) -> IssuedTokens:
        """Spend ``code`` for an access and refresh token; a second use ends the grant."""
        reused = False
        with self.index.write() as conn:
            row = find(self.index, code, "code")
            grant = None if row is None else self.index.oauth_grants.get(row.grant_id)
            if row is None or grant is None or grant.client_id != client.client_id:
                raise OAuthError("invalid_grant", "authorization code does not exist")
            now = time.time()
            if grant.revoked:
                raise OAuthError("invalid_grant", "the authorization was revoked")
            if not self.index.oauth_tokens.mark_used(row.kid, now):
                self.grants.end_family(conn, client, grant, row.kid, "an authorization code", now)
                reused = True
            elif row.expires_at <= now:
                raise OAuthError("invalid_grant", "authorization code has expired")
            else:
                return self.grants.issue(conn, client, grant, refresh=True, action="oauth.token")
        assert reused
        raise OAuthError(
            "invalid_grant", "the authorization code was already used; its tokens are revoked"
        )
