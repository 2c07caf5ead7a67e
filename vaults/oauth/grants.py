"""Grants and their tokens: client credentials, pre-approved grants, refresh with rotation and
reuse detection, and revocation (RFC 7009).

A grant is one consent; its refresh tokens form a family. Each refresh marks the token it used
and issues a new access and refresh token under the same grant; presenting a used refresh token
again ends the grant, so every token of the family (the thief's and the owner's) stops working
and the reuse is audited. Tokens are ``mcpb_`` tokens, only their hashes stored.
"""

from __future__ import annotations

import fnmatch
import hmac
import time
from collections.abc import Sequence

from vaults import audit, tokens
from vaults.errors import OAuthError
from vaults.index import Connection, Grant, Index, OAuthClient, TokenRow
from vaults.oauth.models import IssuedTokens

# Expired rows are kept this long (a reused, expired refresh token is still told apart).
_KEEP_EXPIRED = 86400.0


def within(scope: str, allowed: Sequence[str]) -> bool:
    """Whether ``scope`` is one of the tool scopes ``allowed`` or matched by one of their globs
    (``inv_*`` covers ``inv_read``); no ``allowed`` scopes means every tool."""
    return not allowed or any(scope == glob or fnmatch.fnmatchcase(scope, glob) for glob in allowed)


def granted_scopes(client: OAuthClient, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The scopes a request gets: what it asks for, within the client's (none asked: all of
    the client's). A client without scopes may call every tool, so any request is within it."""
    wanted = tuple(dict.fromkeys(scope for scope in requested or () if scope.strip()))
    if not wanted:
        return client.scopes
    outside = [scope for scope in wanted if not within(scope, client.scopes)]
    if outside:
        raise OAuthError("invalid_scope", f"scope {outside[0]!r} is not granted to this client")
    return wanted


def mint(
    index: Index,
    grant_id: int,
    kind: str,
    ttl: float,
    now: float,
    scopes: Sequence[str] | None = None,
) -> tuple[str, str]:
    """A new token of ``kind`` under the grant; returns it and its key id."""
    token = tokens.generate()
    parsed = tokens.parse(token)
    assert parsed is not None
    index.oauth_tokens.insert(
        parsed.kid, grant_id, kind, tokens.hash_secret(parsed.secret), now, now + ttl, scopes
    )
    return token, parsed.kid


def find(index: Index, token: str, kind: str | None = None) -> TokenRow | None:
    """The stored row of ``token`` if its hash matches (constant time), else None."""
    parsed = tokens.parse(token)
    if parsed is None:
        return None
    row = index.oauth_tokens.get(parsed.kid)
    digest = tokens.hash_secret(parsed.secret)
    if row is None:
        hmac.compare_digest(digest, digest)
        return None
    if not hmac.compare_digest(digest, row.hash) or (kind is not None and row.kind != kind):
        return None
    return row


class Grants:
    """Issues and refreshes tokens in a store's index (each call one write transaction)."""

    def __init__(self, index: Index, *, access_ttl: float, refresh_ttl: float) -> None:
        self.index = index
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def issue(
        self,
        conn: Connection,
        client: OAuthClient,
        grant: Grant,
        *,
        refresh: bool,
        action: str,
        scopes: tuple[str, ...] | None = None,
    ) -> IssuedTokens:
        """An access token (and a refresh token) under ``grant``, in the caller's transaction;
        the access token carries ``scopes`` if given (narrower than the grant's)."""
        now = time.time()
        self.index.oauth_tokens.delete_expired(now - _KEEP_EXPIRED)
        narrowed = None if scopes is None or scopes == grant.scopes else scopes
        access, kid = mint(self.index, grant.id, "access", self.access_ttl, now, narrowed)
        refresh_token = None
        if refresh and "refresh_token" in client.grant_types:
            refresh_token, _ = mint(self.index, grant.id, "refresh", self.refresh_ttl, now)
        audit.record(
            conn, action, credential=client.name, kid=kid,
            detail=f"grant {grant.id}, scopes {' '.join(scopes or grant.scopes) or '*'}",
        )  # fmt: skip
        return IssuedTokens(
            access, int(self.access_ttl), scopes or grant.scopes, refresh_token,
            now + self.access_ttl, grant.id,
        )  # fmt: skip

    def new_grant(
        self,
        client: OAuthClient,
        scopes: Sequence[str] | None,
        resource: str | None = None,
        origin: str | None = None,
    ) -> Grant:
        """Insert a grant for ``client`` (in the caller's transaction)."""
        granted = granted_scopes(client, scopes)
        grant_id = self.index.oauth_grants.insert(
            client.client_id, granted, resource, time.time(), origin
        )
        found = self.index.oauth_grants.get(grant_id)
        assert found is not None
        return found

    def client_credentials(
        self, client: OAuthClient, scopes: Sequence[str] | None, resource: str | None = None
    ) -> IssuedTokens:
        """RFC 6749 §4.4: an access token for a confidential client, no refresh token."""
        if client.public or "client_credentials" not in client.grant_types:
            raise OAuthError(
                "unauthorized_client", "this client may not use the client_credentials grant"
            )
        with self.index.write() as conn:
            grant = self.new_grant(client, scopes, resource)
            return self.issue(conn, client, grant, refresh=False, action="oauth.token")

    def pre_approved(self, client: OAuthClient, origin: str | None = None) -> IssuedTokens:
        """A grant the operator gives by linking the client (access and refresh token)."""
        if "refresh_token" not in client.grant_types:
            raise OAuthError(
                "unauthorized_client", f"{client.name} may not use refresh tokens; add the grant"
            )
        with self.index.write() as conn:
            grant = self.new_grant(client, None, origin=origin)
            return self.issue(conn, client, grant, refresh=True, action="oauth.link")

    def replace(self, client: OAuthClient, origin: str, keep: int) -> int:
        """End the client's older grants of ``origin`` once grant ``keep`` replaced them."""
        with self.index.write() as conn:
            ended = self.index.oauth_grants.revoke_older(
                client.client_id, origin, keep, "replaced", time.time()
            )
            if ended:
                audit.record(
                    conn, "oauth.replace", credential=client.name,
                    detail=f"{ended} older grants of {origin} ended",
                )  # fmt: skip
            return ended

    def end_family(
        self, conn: Connection, client: OAuthClient, grant: Grant, kid: str, what: str, now: float
    ) -> None:
        """A spent token came back: end its grant (every token of the family), audited."""
        self.index.oauth_grants.revoke(grant.id, f"{what} was presented again", now)
        audit.record(
            conn, "oauth.reuse", credential=client.name, kid=kid, outcome="revoked",
            detail=f"grant {grant.id}: {what} was presented again",
        )  # fmt: skip

    def refresh(
        self, client: OAuthClient, refresh_token: str, scopes: Sequence[str] | None = None
    ) -> IssuedTokens:
        """RFC 6749 §6 with rotation: the refresh token is spent, a new pair issued; a spent
        token presented again ends its whole family (OAuthError invalid_grant either way)."""
        if "refresh_token" not in client.grant_types:
            raise OAuthError("unauthorized_client", "this client may not use refresh tokens")
        reused = False
        with self.index.write() as conn:
            row = find(self.index, refresh_token, "refresh")
            grant = None if row is None else self.index.oauth_grants.get(row.grant_id)
            if row is None or grant is None or grant.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown refresh token")
            if grant.revoked:
                raise OAuthError("invalid_grant", "the refresh token was revoked")
            now = time.time()
            if row.used_at is not None:
                self.end_family(conn, client, grant, row.kid, "a spent refresh token", now)
                reused = True
            elif row.expires_at <= now:
                raise OAuthError("invalid_grant", "the refresh token has expired")
            else:
                wanted = tuple(scopes or grant.scopes)
                outside = [scope for scope in wanted if not within(scope, grant.scopes)]
                if outside:
                    raise OAuthError(
                        "invalid_scope", f"scope {outside[0]!r} was not granted to this token"
                    )
                self.index.oauth_tokens.mark_used(row.kid, now)
                return self.issue(
                    conn, client, grant, refresh=True, action="oauth.refresh", scopes=wanted
                )
        assert reused
        raise OAuthError(
            "invalid_grant",
            "the refresh token was already used; every token of its grant is revoked",
        )

    def peek(
        self, token: str, kind: str, client: OAuthClient | None = None
    ) -> tuple[str, tuple[str, ...], float] | None:
        """``(client_id, scopes, expires_at)`` of a token of ``kind`` of a live grant (of
        ``client``), used or not: a spent refresh token is found, so that its reuse is
        detected when it is exchanged; None if unknown or revoked."""
        with self.index.read():
            row = find(self.index, token, kind)
            grant = None if row is None else self.index.oauth_grants.get(row.grant_id)
        if row is None or grant is None or grant.revoked:
            return None
        if client is not None and grant.client_id != client.client_id:
            return None
        return grant.client_id, grant.scopes, row.expires_at

    def revoke_token(self, token: str, client: OAuthClient | None = None) -> bool:
        """End the grant of an access or refresh token (RFC 7009); False if unknown (or of
        another client than ``client``)."""
        with self.index.write() as conn:
            row = find(self.index, token)
            grant = None if row is None else self.index.oauth_grants.get(row.grant_id)
            if row is None or grant is None:
                return False
            if client is not None and grant.client_id != client.client_id:
                return False
            ended = self.index.oauth_grants.revoke(grant.id, "token revoked", time.time())
            if ended:
                audit.record(conn, "oauth.revoke", kid=row.kid, detail=f"grant {grant.id}")
            return ended
