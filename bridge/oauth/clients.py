"""OAuth clients as the SDK sees them, and client authentication against hashed secrets.

Written beside the SDK's ``ClientAuthenticator`` rather than used as it is: the SDK compares
the presented secret with a plain ``client_secret`` the provider returns, and the store keeps
only hashes. ``VaultClientAuthenticator`` keeps its interface (the SDK's token and revocation
handlers call it) and asks ``OAuthService.authenticate`` instead: constant time, the current,
pending and in-grace previous secrets of a client all accepted (rotation with overlap).
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

import anyio.to_thread
from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.shared.auth import InvalidScopeError, OAuthClientInformationFull
from pydantic import AnyUrl
from starlette.requests import Request

from vaults.errors import VaultError
from vaults.oauth import OAuthClient, OAuthError, OAuthService
from vaults.oauth.grants import within


class _BridgeClient(OAuthClientInformationFull):
    """The SDK's client model, whose scope check knows tool-scope globs (``inv_*`` covers
    ``inv_read``) and that a client without scopes may ask for any tool."""

    def validate_scope(self, requested_scope: str | None) -> list[str] | None:
        if requested_scope is None:
            return None
        requested = requested_scope.split()
        allowed = (self.scope or "").split()
        for scope in requested:
            if not within(scope, allowed):
                raise InvalidScopeError(f"Client was not registered with scope {scope}")
        return requested


def sdk_client(client: OAuthClient) -> OAuthClientInformationFull:
    """The SDK's view of a client; never a secret (the SDK's own check is not used)."""
    return _BridgeClient(
        client_id=client.client_id,
        client_secret=None,
        redirect_uris=[AnyUrl(uri) for uri in client.redirect_uris] or None,
        grant_types=list(client.grant_types),
        response_types=["code"],
        token_endpoint_auth_method=client.auth_method,
        scope=" ".join(client.scopes) or None,
        client_name=client.name,
    )


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(client_id, secret)`` of an ``Authorization: Basic`` header (RFC 6749 §2.3.1), or None;
    AuthenticationError if the header is malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationError("malformed Basic authorization header") from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise AuthenticationError("malformed Basic authorization header")
    return unquote(client_id), unquote(secret)


class VaultClientAuthenticator(ClientAuthenticator):
    """The SDK's client authenticator, checking secrets against the store's hashes."""

    def __init__(self, service: OAuthService) -> None:
        self.service = service

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        form = await request.form()
        basic = basic_credentials(request)
        secret: str | None
        form_id = form.get("client_id")
        form_secret = form.get("client_secret")
        if basic is not None:
            client_id, secret = basic
            if isinstance(form_id, str) and form_id and form_id != client_id:
                raise AuthenticationError("client_id differs from the Basic authorization")
            if form_secret:
                raise AuthenticationError("send the client secret once (header or body)")
        else:
            client_id = form_id if isinstance(form_id, str) else ""
            secret = form_secret if isinstance(form_secret, str) else None
        if not client_id:
            raise AuthenticationError("missing client_id")
        try:
            client = await anyio.to_thread.run_sync(self.service.authenticate, client_id, secret)
        except OAuthError as exc:
            raise AuthenticationError(exc.description) from exc
        except VaultError as exc:  # the index is away: a refusal, never a 500
            raise AuthenticationError("client authentication is unavailable; retry") from exc
        return sdk_client(client)
