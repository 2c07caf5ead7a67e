"""A remote MCP server for the proxy tests: SSE and Streamable HTTP, recording request headers.

Every request must carry ``Authorization: Bearer <bearer>`` (else 401), like a real service.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, MutableSequence
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send


class _Recorder:
    def __init__(self, app: ASGIApp, bearer: str, seen: MutableSequence[dict[str, str]]) -> None:
        self.app = app
        self.bearer = bearer
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(headers)
        if headers.get("authorization") != f"Bearer {self.bearer}":
            await PlainTextResponse("no", status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def remote_app(bearer: str, seen: MutableSequence[dict[str, str]]) -> Any:
    """The ASGI app; ``seen`` receives the headers of every HTTP request."""
    server = MCPServer("remote-backend")

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    @server.tool()
    def credential() -> str:
        """The credential this server accepts, as a careless server might reveal it."""
        return f"I accept Bearer {bearer}"

    @server.tool()
    async def count(n: int, ctx: Context) -> str:
        """Report progress n times."""
        for i in range(1, n + 1):
            await ctx.report_progress(i, n)
        return f"counted {n}"

    http_app = server.streamable_http_app()
    sse_app = server.sse_app()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    app = Starlette(
        routes=[
            Route("/sse", endpoint=sse_app, methods=["GET"]),
            Route("/messages/", endpoint=sse_app, methods=["POST"]),
            Mount("/", app=http_app),
        ],
        lifespan=lifespan,
    )
    return _Recorder(app, bearer, seen)
