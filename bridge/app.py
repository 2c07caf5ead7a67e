"""The starlette app factory: MCP over SSE and Streamable HTTP, health and metrics, one lifespan.

Both transports come from the same ``BridgeServer`` and keep the SDK's own auth middleware and
transport-security (Host/Origin) checks; they are routed, not mounted twice, because two
``Mount("/")`` entries would hide one of them (see the SDK reference, §3).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bridge.auth import VaultTokenVerifier, Verifier
from bridge.metrics import Metrics
from bridge.server import BridgeServer, Limits
from bridge.tools.registry import Registry

if TYPE_CHECKING:
    from bridge.config import BridgeConfig


def transport_security(config: BridgeConfig) -> TransportSecuritySettings:
    """Host/Origin checks on: loopback, the public URL's host, and what the config adds."""
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(config.server.effective_allowed_hosts),
        allowed_origins=list(config.server.effective_allowed_origins),
    )


def create_app(config: BridgeConfig, registry: Registry, verifier: Verifier) -> Starlette:
    """Build the bridge's ASGI app. Sources start and stop in its lifespan."""
    limits = config.server.limits
    metrics = Metrics()
    server = BridgeServer(
        config.server.name,
        registry,
        limits=Limits(tool_timeout=limits.tool_timeout, max_output_bytes=limits.max_output_bytes),
        metrics=metrics,
        token_verifier=VaultTokenVerifier(verifier, accepted=config.auth.tokens),
        auth=AuthSettings(
            # The SDK requires an issuer; tokens come from the vault, not from an OAuth server,
            # and no protected-resource metadata is advertised (resource_server_url=None).
            issuer_url=config.server.public_url,  # type: ignore[arg-type]
            resource_server_url=None,
        ),
    )
    security = transport_security(config)
    http_app = server.streamable_http_app(
        max_request_body_size=limits.max_request_bytes, transport_security=security
    )
    sse_app = server.sse_app(
        max_request_body_size=limits.max_request_bytes, transport_security=security
    )

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
            yield

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/sse", endpoint=sse_app, methods=["GET"]),
            Route("/messages/", endpoint=sse_app, methods=["POST"]),
            Mount("/", app=http_app),
        ],
        lifespan=lifespan,
    )
    app.state.server = server
    return app
