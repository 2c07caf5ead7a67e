"""The starlette app factory: MCP over SSE and Streamable HTTP, health and metrics, one lifespan.

Both transports come from the same ``BridgeServer`` and keep the SDK's own auth middleware and
transport-security (Host/Origin) checks; they are routed, not mounted twice, because two
``Mount("/")`` entries would hide one of them (see the SDK reference, §3).

Streamable HTTP answers a request with plain JSON unless it streams (``_ResponseMode``): the
SDK's ``json_response`` halves the server's work per call on the handshake-era leg and cuts a
fifth on the 2026-07-28 leg, but applied to every request it drops progress notifications and,
on the modern leg, the cancellation of a call whose client hangs up. So the flag is decided per
request: an SSE stream for a request that carries a progress token, and for the one that opens
a handshake-era session (the session's own task inherits that request's context, and must never
drop the notifications of later streamed requests); JSON for the rest, with the hang-up watched
here on the modern leg. SSE (``/sse``) is not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import anyio
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS as HANDSHAKE_VERSIONS
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        max_request_body_size=limits.max_request_bytes,
        transport_security=security,
        json_response=cast(bool, _JSON_FOR_THIS_REQUEST),
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
        routes=[  # matched in order: the per-call SSE route first
            Route("/messages/", endpoint=sse_app, methods=["POST"]),
            Route("/sse", endpoint=sse_app, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Mount("/", app=_ResponseMode(http_app)),
        ],
        lifespan=lifespan,
    )
    app.state.server = server
    return app


_JSON_ANSWER: ContextVar[bool] = ContextVar("bridge_json_answer", default=False)


class _JsonForThisRequest:
    """Stands in for the SDK's ``json_response`` flag, which it only ever tests for truth:
    true while serving a request ``_ResponseMode`` chose to answer with JSON."""

    def __bool__(self) -> bool:
        return _JSON_ANSWER.get()


_JSON_FOR_THIS_REQUEST = _JsonForThisRequest()
_PROTOCOL_VERSION = b"mcp-protocol-version"
_SESSION_ID = b"mcp-session-id"
# A progress token asks for a stream; a JSON escape could spell that key some other way.
_STREAM_MARKERS = (b"progressToken", b"\\u")
_OVERLAP = max(len(marker) for marker in _STREAM_MARKERS) - 1


class _ResponseMode:
    """Decides, while the SDK reads a POST body, whether the answer is JSON (see the module
    docstring). It reads nothing itself, so the SDK's auth check still comes before the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        version = session = None
        for name, value in scope["headers"]:
            if name == _PROTOCOL_VERSION:
                version = value
            elif name == _SESSION_ID:
                session = value
        modern = version is not None and version.decode("latin-1") not in HANDSHAKE_VERSIONS
        if not modern and session is None:  # opens a session: stays a stream (see above)
            await self.app(scope, receive, send)
            return
        if not modern:
            await self.app(scope, _Scanning(receive), send)
            return
        await _cancelled_on_hang_up(self.app, scope, receive, send)


async def _cancelled_on_hang_up(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve a modern-leg POST; a JSON-answered call still running after ``_WATCH_AFTER`` is
    cancelled when its client hangs up (the SDK's streamed answer watches for that itself, its
    JSON answer does not). The watch starts late so that the common short call pays for a
    timer, not for a task (an anyio task group per request measured 40 us)."""
    loop = asyncio.get_running_loop()
    watcher: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None

    async def hang_up(cancel: anyio.CancelScope) -> None:
        # The body has been read: the next message is the disconnect (also sent once the
        # answer is complete, by which time this task has been cancelled).
        while (await receive())["type"] != "http.disconnect":
            pass
        cancel.cancel()

    def watch(cancel: anyio.CancelScope) -> None:
        nonlocal watcher
        watcher = loop.create_task(hang_up(cancel))

    with anyio.CancelScope() as cancel:

        def on_json() -> None:
            nonlocal timer
            timer = loop.call_later(_WATCH_AFTER, watch, cancel)

        try:
            await app(scope, _Scanning(receive, on_json=on_json), send)
        finally:
            if timer is not None:
                timer.cancel()
            if watcher is not None:
                watcher.cancel()


_WATCH_AFTER = 0.1


class _Scanning:
    """A ``receive`` that looks through the body for what asks for a stream, and sets the
    request's answer mode once the body is complete."""

    def __init__(self, receive: Receive, on_json: Any = None) -> None:
        self._receive = receive
        self._tail = b""
        self._streams = False
        self._on_json = on_json

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        body = message.get("body", b"")
        if not self._streams:  # a marker may straddle two chunks: look at the seam too
            seam = self._tail + body[:_OVERLAP]
            self._streams = any(m in body or m in seam for m in _STREAM_MARKERS)
        self._tail = body[-_OVERLAP:] if len(body) >= _OVERLAP else (self._tail + body)[-_OVERLAP:]
        if not message.get("more_body", False) and not self._streams:
            _JSON_ANSWER.set(True)
            if self._on_json is not None:
                self._on_json()
        return message
