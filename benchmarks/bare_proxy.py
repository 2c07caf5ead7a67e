"""The like-for-like baseline of the proxied rows: a default ``MCPServer`` that proxies the same
two backends the bridge does, written the way the SDK's docs suggest and nothing more.

``files_echo`` calls the stdio MCP server's ``echo`` through one SDK ``Client`` session held for
the server's life; ``inv_getItem`` sends ``GET /api/items/{item_id}`` with one ``httpx``
client and the service's bearer token. Same bearer check, composition, uvicorn (asyncio, h11) and
quiet logging as ``bare_server.py``. Run as ``python bare_proxy.py STDIO_SERVER RECORD_DIR
INVENTORY_URL`` with the accepted token and the service's secret as the first two lines on stdin
(never on argv); prints ``ready PORT`` once uvicorn listens.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import AsyncIterator

import httpx
import uvicorn
from bare_server import StaticVerifier, announcing_server, composed
from mcp import Client, StdioServerParameters
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette


def proxy_app(token: str, secret: str, stdio_server: str, record: str, inventory: str) -> Starlette:
    mcp = MCPServer(
        "bare-proxy",
        token_verifier=StaticVerifier(token),
        auth=AuthSettings(issuer_url="http://127.0.0.1", resource_server_url=None),  # type: ignore[arg-type]
    )
    held: dict[str, object] = {}

    @mcp.tool()
    async def files_echo(text: str) -> str:
        """Echo the text back (through the stdio MCP server)."""
        client = held["stdio"]
        assert isinstance(client, Client)
        result = await client.call_tool("echo", {"text": text})
        return str((result.structured_content or {}).get("result"))

    @mcp.tool()
    async def inv_getItem(item_id: int) -> str:
        """One inventory item (through the HTTP service)."""
        http = held["http"]
        assert isinstance(http, httpx.AsyncClient)
        response = await http.get(f"/api/items/{item_id}")
        return response.text

    params = StdioServerParameters(command=sys.executable, args=[stdio_server, record])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            Client(params, mode="legacy") as stdio,
            httpx.AsyncClient(
                base_url=inventory, headers={"Authorization": f"Bearer {secret}"}
            ) as http,
            mcp.session_manager.run(),
        ):
            held.update(stdio=stdio, http=http)
            yield

    return composed(mcp, lifespan)


def main() -> None:
    token = sys.stdin.readline().strip()
    secret = sys.stdin.readline().strip()
    if not token or not secret or len(sys.argv) != 4:
        sys.exit("bare_proxy.py STDIO_SERVER RECORD_DIR INVENTORY_URL, token and secret on stdin")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    app = proxy_app(token, secret, *sys.argv[1:])
    config = uvicorn.Config(app, log_level="warning", lifespan="on", loop="asyncio", http="h11")
    announcing_server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
