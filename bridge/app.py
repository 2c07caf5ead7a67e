"""The starlette app factory: MCP over SSE and Streamable HTTP, health and metrics, one lifespan.

Both transports come from the same ``BridgeServer`` and keep the SDK's own auth middleware and
transport-security (Host/Origin) checks; they are routed, not mounted twice, because two
``Mount("/")`` entries would hide one of them (see the SDK reference, §3).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bridge.auth import VaultTokenVerifier, Verifier
from bridge.direct_call import DirectCalls
from bridge.metrics import Metrics
from bridge.oauth import issuer_for, oauth_routes
from bridge.response_mode import JSON_FOR_THIS_REQUEST, ResponseMode
from bridge.revocation import LiveStreams
from bridge.rpc_errors import readable_errors
from bridge.server import BridgeServer, Limits
from bridge.tools.registry import Registry

if TYPE_CHECKING:
    from bridge.config import BridgeConfig
    from vaults.oauth import OAuthService


_STREAMABLE_PATH = "/mcp"  # the SDK's default, which streamable_http_app() keeps


def transport_security(config: BridgeConfig) -> TransportSecuritySettings:
    """Host/Origin checks on: loopback, the public URL's host, and what the config adds."""
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(config.server.effective_allowed_hosts),
        allowed_origins=list(config.server.effective_allowed_origins),
    )


def create_app(
    config: BridgeConfig,
    registry: Registry,
    verifier: Verifier,
    *,
    oauth: OAuthService | None = None,
) -> Starlette:
    """Build the bridge's ASGI app. Sources start and stop in its lifespan.

    With ``[auth.oauth] enabled`` the bridge is also its own OAuth authorization server (over
    ``oauth``, the store's OAuth service): its routes, RFC 8414 and RFC 9728 metadata, and a
    ``resource_metadata`` pointer in every 401.
    """
    limits = config.server.limits
    metrics = Metrics()
    token_verifier = VaultTokenVerifier(verifier, accepted=config.auth.tokens)
    settings = config.auth.oauth
    if settings.enabled and oauth is None:
        raise ValueError("[auth.oauth] is enabled: create_app needs the store's OAuthService")
    oauth_on = settings.enabled and oauth is not None
    server = BridgeServer(
        config.server.name,
        registry,
        limits=Limits(tool_timeout=limits.tool_timeout, max_output_bytes=limits.max_output_bytes),
        metrics=metrics,
        token_verifier=token_verifier,
        auth=AuthSettings(
            # Static tokens only: the SDK requires an issuer, and no protected-resource metadata
            # is advertised (resource_server_url=None). With OAuth the bridge is the issuer, and
            # the SDK serves RFC 9728 metadata for the public URL and points every 401 at it;
            # the verifier checks expiry and audience itself (one bridge, one resource).
            issuer_url=issuer_for(config.server.public_url)
            if oauth_on
            else config.server.public_url,  # type: ignore[arg-type]
            resource_server_url=config.server.public_url if oauth_on else None,  # type: ignore[arg-type]
            validate_token_resource=False if oauth_on else None,
        ),
    )
    security = transport_security(config)
    http_app = server.streamable_http_app(
        max_request_body_size=limits.max_request_bytes,
        transport_security=security,
        json_response=JSON_FOR_THIS_REQUEST,
    )
    sse_app = server.sse_app(
        max_request_body_size=limits.max_request_bytes, transport_security=security
    )

    manager = server.session_manager
    streams = LiveStreams(
        verifier,
        terminate=lambda session: _terminate(manager, session),
        alive=lambda: getattr(manager, "_server_instances", {}),
    )
    guarded_sse = streams.guard(sse_app, sse=True)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        health = dict(registry.health())
        ready = all(health.values())
        return JSONResponse(
            {"status": "ready" if ready else "degraded", "sources": health},
            status_code=200 if ready else 503,
        )

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(registry.health()), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for source in registry.sources:
                await source.start()
                stack.push_async_callback(source.stop)
                subscribe = getattr(source, "on_tools_changed", None)
                if subscribe is not None:
                    subscribe(server.tools_changed)
            await stack.enter_async_context(server.session_manager.run())
            watching = await stack.enter_async_context(anyio.create_task_group())
            watching.start_soon(streams.watch)
            stack.callback(watching.cancel_scope.cancel)
            yield

    authorization_server: list[BaseRoute] = []
    if oauth_on:
        assert oauth is not None
        authorization_server = oauth_routes(
            oauth, public_url=config.server.public_url,
            dynamic_registration=settings.dynamic_registration,
            dynamic_scopes=settings.dynamic_scopes,
        )  # fmt: skip
    app = Starlette(
        routes=[  # matched in order: the per-call SSE route first
            *authorization_server,
            Route("/messages/", endpoint=guarded_sse, methods=["POST"]),
            Route("/sse", endpoint=guarded_sse, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Mount("/", app=readable_errors(ResponseMode(streams.guard(http_app, sse=False)))),
        ],
        # In front of the routes: plain modern tools/call requests answered in one pass; the
        # SDK's BearerAuthBackend checks no token resource in either auth mode (see above).
        middleware=[
            Middleware(
                DirectCalls,
                server=server,
                verifier=token_verifier,
                security=security,
                path=_STREAMABLE_PATH,
                max_body=limits.max_request_bytes,
            )
        ],
        lifespan=lifespan,
    )
    app.state.server = server
    app.state.streams = streams
    return app


async def _terminate(manager: Any, session: str) -> None:
    """End a Streamable HTTP session of the SDK's session manager (no public API for it:
    the manager's table of transports is read defensively)."""
    transport = getattr(manager, "_server_instances", {}).get(session)
    if transport is not None:
        await transport.terminate()
