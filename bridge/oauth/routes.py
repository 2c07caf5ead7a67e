"""The authorization server's routes, from the SDK's route and metadata builders.

``create_auth_routes`` gives the authorize and registration endpoints as the SDK builds them.
Its token and revocation endpoints and its metadata are replaced: both endpoints must
authenticate clients against hashed secrets (``clients``), the token endpoint adds
``client_credentials`` (``token``), and the RFC 8414 metadata must say so. The RFC 9728
protected-resource metadata and the ``WWW-Authenticate: ... resource_metadata=`` of a 401 come
from the SDK's resource-server side (``AuthSettings.resource_server_url``, see ``bridge.app``).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from mcp.server.auth.handlers.metadata import MetadataHandler
from mcp.server.auth.routes import (
    REGISTRATION_PATH,
    TOKEN_PATH,
    build_metadata,
    cors_middleware,
    create_auth_routes,
)
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from pydantic import AnyHttpUrl
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.oauth.consent import PATH as CONSENT_PATH
from bridge.oauth.consent import ConsentPage
from bridge.oauth.provider import REQUESTER, VaultOAuthProvider
from bridge.oauth.token import RevocationEndpoint, TokenEndpoint
from vaults.oauth import OAuthService

REVOCATION_PATH = "/revoke"
METADATA_PATH = "/.well-known/oauth-authorization-server"


def issuer_for(public_url: str) -> str:
    """The issuer of a bridge serving MCP at ``public_url``: that URL without its ``/mcp`` or
    ``/sse`` endpoint (and so the base of ``/token`` and ``/authorize``)."""
    parts = urlsplit(public_url)
    path = parts.path.rstrip("/")
    for endpoint in ("/mcp", "/sse"):
        if path.endswith(endpoint):
            path = path[: -len(endpoint)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def oauth_routes(
    service: OAuthService,
    *,
    public_url: str,
    dynamic_registration: bool = False,
    dynamic_scopes: tuple[str, ...] = (),
) -> list[BaseRoute]:
    """The routes of the bridge's authorization server for a bridge at ``public_url``."""
    issuer = issuer_for(public_url)
    issuer_url = AnyHttpUrl(issuer)
    provider = VaultOAuthProvider(
        service,
        consent_url=lambda request_id: issuer + CONSENT_PATH.format(request_id=request_id),
        dynamic_scopes=dynamic_scopes,
    )
    registration = ClientRegistrationOptions(
        enabled=dynamic_registration, valid_scopes=list(dynamic_scopes) or None
    )
    revocation = RevocationOptions(enabled=True)
    kept = [
        route
        for route in create_auth_routes(
            provider,
            issuer_url,
            client_registration_options=registration,
            revocation_options=revocation,
        )
        if isinstance(route, Route)
        and route.path not in (TOKEN_PATH, REVOCATION_PATH, METADATA_PATH)
    ]
    assert {route.path for route in kept} <= {"/authorize", REGISTRATION_PATH}
    for route in kept:
        if route.path == "/authorize":
            route.app = with_requester(route.app)
    # A str, not the AnyHttpUrl: the metadata model keeps an empty path as it is (RFC 8414
    # compares issuers exactly), where AnyHttpUrl would add a "/".
    metadata = build_metadata(issuer, None, registration, revocation)  # type: ignore[arg-type]
    metadata.grant_types_supported = ["authorization_code", "refresh_token", "client_credentials"]
    metadata.token_endpoint_auth_methods_supported = [
        "client_secret_basic", "client_secret_post", "none",
    ]  # fmt: skip
    return [
        Route(
            METADATA_PATH,
            endpoint=cors_middleware(MetadataHandler(metadata).handle, ["GET", "OPTIONS"]),
            methods=["GET", "OPTIONS"],
        ),
        Route(TOKEN_PATH, endpoint=_cors(TokenEndpoint(provider)), methods=["POST", "OPTIONS"]),
        Route(
            REVOCATION_PATH,
            endpoint=_cors(RevocationEndpoint(provider)),
            methods=["POST", "OPTIONS"],
        ),
        *kept,
        Route(CONSENT_PATH, endpoint=ConsentPage(service).handle, methods=["GET"]),
    ]


def with_requester(app: ASGIApp) -> ASGIApp:
    """Note who opens an authorization request (``provider.REQUESTER``) for the operator."""

    async def noted(scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        agent = Headers(scope=scope).get("user-agent", "-")[:120]
        token = REQUESTER.set(f"{client[0] if client else '-'} {agent}")
        try:
            await app(scope, receive, send)
        finally:
            REQUESTER.reset(token)

    return noted


def _cors(app: object) -> CORSMiddleware:
    return CORSMiddleware(
        app=app,  # type: ignore[arg-type]
        allow_origins="*",
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["mcp-protocol-version", "authorization", "content-type"],
    )
