"""The SDK's ``OAuthAuthorizationServerProvider``, over the vault's ``OAuthService``.

The SDK's handlers (authorize, token, revoke, register) validate the requests, check PKCE and
redirect URIs and shape the RFC 6749 answers; this provider only looks up and changes the state,
in worker threads (the store is synchronous). ``authorize`` files the request for the
operator's approval and sends the browser to the consent page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from vaults.errors import UsageError, VaultError
from vaults.oauth import IssuedTokens, OAuthClient, OAuthError, OAuthService
from vaults.oauth.grants import within

T = TypeVar("T")
log = logging.getLogger("bridge.oauth")

# Who opened an /authorize request (address and user agent), set by ``routes.with_requester``
# around the SDK's handler (which hands the provider no request): the operator sees it beside
# the code to approve.
REQUESTER: ContextVar[str | None] = ContextVar("oauth_requester", default=None)


def oauth_token(issued: IssuedTokens) -> OAuthToken:
    return OAuthToken(
        access_token=issued.access_token,
        token_type="Bearer",  # noqa: S106 - the RFC 6749 token type, not a secret
        expires_in=issued.expires_in,
        scope=" ".join(issued.scopes) or None,
        refresh_token=issued.refresh_token,
    )


class VaultOAuthProvider(
    OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]
):
    """Clients, consent and tokens from the store; the SDK's handlers do the protocol."""

    def __init__(
        self,
        service: OAuthService,
        *,
        consent_url: Callable[[str], str],
        dynamic_scopes: Sequence[str] = (),
    ) -> None:
        self.service = service
        self.consent_url = consent_url
        self.dynamic_scopes = tuple(dynamic_scopes)

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(call, *args)

    async def _client(self, client: OAuthClientInformationFull) -> OAuthClient:
        assert client.client_id is not None
        found = await self._run(self.service.client, client.client_id)
        if found is None or found.revoked:
            raise TokenError("invalid_client", "unknown or revoked client")
        return found

    async def _found(self, client: OAuthClientInformationFull) -> OAuthClient | None:
        try:
            return await self._client(client)
        except TokenError:
            return None

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        from bridge.oauth.clients import sdk_client

        found = await self._run(self.service.client, client_id)
        return None if found is None or found.revoked else sdk_client(found)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        """RFC 7591 (when enabled): the client is stored with this store's own id and secret,
        written back into ``client_info``, which the SDK's handler answers with."""
        assert client_info.client_id is not None
        # Anyone who reaches the bridge may register: only public PKCE clients, whatever the
        # request asks (RFC 7591 §3.2.1 lets the server replace metadata; the answer says so).
        grants = [
            g for g in client_info.grant_types if g in ("authorization_code", "refresh_token")
        ]
        scopes = (client_info.scope or "").split() or list(self.dynamic_scopes)
        if self.dynamic_scopes and (
            not scopes or any(not within(scope, self.dynamic_scopes) for scope in scopes)
        ):
            raise RegistrationError("invalid_client_metadata", "scope outside dynamic_scopes")
        name = "dcr-" + client_info.client_id.replace("-", "")[:12]
        try:
            client, _ = await self._run(
                lambda: self.service.add_client(
                    name, scopes=scopes, grant_types=grants, auth_method="none", dynamic=True,
                    redirect_uris=[str(uri) for uri in client_info.redirect_uris or ()],
                )
            )  # fmt: skip
        except UsageError as exc:
            raise RegistrationError("invalid_client_metadata", str(exc)) from exc
        except VaultError as exc:
            log.error("dynamic registration failed: %s", exc)
            raise RegistrationError(
                "invalid_client_metadata", "the bridge cannot register clients now"
            ) from exc
        client_info.client_id = client.client_id
        client_info.client_secret = None
        client_info.client_secret_expires_at = None
        client_info.token_endpoint_auth_method = "none"  # noqa: S105 - a method, not a secret
        client_info.grant_types = list(client.grant_types)
        client_info.scope = " ".join(client.scopes) or None

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        found = await self._client_or_authorize_error(client)
        try:
            pending = await self._run(
                lambda: self.service.request_authorization(
                    found, redirect_uri=str(params.redirect_uri),
                    redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
                    code_challenge=params.code_challenge, scopes=params.scopes,
                    state=params.state, resource=params.resource, requester=REQUESTER.get(),
                )
            )  # fmt: skip
        except OAuthError as exc:
            kept = ("invalid_scope", "unauthorized_client", "temporarily_unavailable")
            code = exc.code if exc.code in kept else "invalid_request"
            raise AuthorizeError(code, exc.description) from exc  # type: ignore[arg-type]
        return self.consent_url(pending.request_id)

    async def _client_or_authorize_error(self, client: OAuthClientInformationFull) -> OAuthClient:
        try:
            return await self._client(client)
        except TokenError as exc:
            raise AuthorizeError("unauthorized_client", exc.error_description) from exc

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        found = await self._found(client)
        if found is None:
            return None  # revoked meanwhile: the SDK answers invalid_grant
        bound = await self._run(self.service.load_code, found, authorization_code)
        if bound is None:
            return None
        return AuthorizationCode(
            code=authorization_code,
            scopes=list(bound.scopes),
            expires_at=bound.expires_at,
            client_id=bound.client_id,
            code_challenge=bound.code_challenge,
            redirect_uri=bound.redirect_uri,  # type: ignore[arg-type]
            redirect_uri_provided_explicitly=bound.redirect_uri_provided_explicitly,
            resource=bound.resource,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        found = await self._client(client)
        return oauth_token(
            await self._token(self.service.exchange_code, found, authorization_code.code)
        )

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        found = await self._found(client)
        if found is None:
            return None
        peeked = await self._run(self.service.peek_refresh, found, refresh_token)
        if peeked is None:
            return None
        scopes, expires_at = peeked
        return RefreshToken(
            token=refresh_token, client_id=found.client_id, scopes=list(scopes),
            expires_at=int(expires_at),
        )  # fmt: skip

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        found = await self._client(client)
        return oauth_token(
            await self._token(self.service.refresh, found, refresh_token.token, scopes)
        )

    async def client_credentials(
        self, client: OAuthClientInformationFull, scopes: list[str] | None
    ) -> OAuthToken:
        """RFC 6749 §4.4 (which the SDK's token handler has no case for; see ``token``)."""
        found = await self._client(client)
        return oauth_token(await self._token(self.service.client_credentials, found, scopes))

    async def _token(self, call: Callable[..., IssuedTokens], *args: Any) -> IssuedTokens:
        try:
            return await self._run(call, *args)
        except OAuthError as exc:
            raise TokenError(exc.code, exc.description) from exc  # type: ignore[arg-type]
        except VaultError as exc:
            raise TokenError("invalid_request", str(exc)) from exc

    async def load_access_token(self, token: str) -> AccessToken | None:
        peeked = await self._run(self.service.peek_access, token)
        if peeked is None:
            return None
        client_id, scopes, expires_at = peeked
        return AccessToken(
            token=token, client_id=client_id, scopes=list(scopes), expires_at=int(expires_at)
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        await self._run(self.service.revoke_token, token.token)
