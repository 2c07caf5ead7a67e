"""The baseline: a default ``MCPServer`` with the SDK's bearer check, serving ``echo``.

Run by the benchmark as ``python bare_server.py`` with the accepted token as the first line on
stdin (never on argv); prints ``ready PORT`` once uvicorn listens. Everything is the SDK's
default (SDK reference sections 3 and 4): ``sse_app()`` and ``streamable_http_app()`` with their
default options composed on one port, a ``TokenVerifier`` that looks the token up in a dict, and
uvicorn on asyncio and h11, what ``pip install mcp`` brings (uvicorn's ``auto`` would pick uvloop
and httptools if the benchmark's environment has them); only logging is quieter than the default
(``warning``, so no access-log line per request), which can only make the baseline faster.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import AsyncIterator

import uvicorn
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import Lifespan


class StaticVerifier(TokenVerifier):
    """The SDK reference's static verifier: one dict lookup per request."""

    def __init__(self, token: str) -> None:
        self._tokens = {token: AccessToken(token=token, client_id="bench", scopes=[])}

    async def verify_token(self, token: str) -> AccessToken | None:
        return self._tokens.get(token)


def bare_app(token: str) -> Starlette:
    mcp = MCPServer(
        "bare",
        token_verifier=StaticVerifier(token),
        auth=AuthSettings(issuer_url="http://127.0.0.1", resource_server_url=None),  # type: ignore[arg-type]
    )

    @mcp.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    return composed(mcp, lifespan)


def composed(mcp: MCPServer, lifespan: Lifespan[Starlette]) -> Starlette:
    """Both of the SDK's transports on one port, as the SDK reference composes them."""
    http_app = mcp.streamable_http_app()
    sse_app = mcp.sse_app()
    return Starlette(
        routes=[
            Route("/sse", endpoint=sse_app, methods=["GET"]),
            Route("/messages/", endpoint=sse_app, methods=["POST"]),
            Mount("/", app=http_app),
        ],
        lifespan=lifespan,
    )


class _AnnouncingServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            print(f"ready {sockets[0].getsockname()[1]}", flush=True)


def announcing_server(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server that prints ``ready PORT`` once it listens."""
    return _AnnouncingServer(config)


def main() -> None:
    token = sys.stdin.readline().strip()
    if not token:
        sys.exit("bare_server.py: give the accepted token as the first line on stdin")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    config = uvicorn.Config(
        bare_app(token), log_level="warning", lifespan="on", loop="asyncio", http="h11"
    )
    announcing_server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
