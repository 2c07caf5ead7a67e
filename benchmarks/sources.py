"""Proxied tools: the bridge's cost on top of calling the backend directly.

- A stdio MCP server (``tests/bridge/backends/stdio_server.py``) behind ``[[tools.mcp]]``, its
  ``echo`` called through the bridge as ``files_echo``, next to the SDK's ``Client`` calling the
  same server directly over stdio (one session, shared by the ``c`` callers, as the bridge's is).
- An HTTP service (``tests/bridge/backends/inventory.py``) behind ``[[tools.openapi]]``, its
  ``getItem`` called through the bridge as ``inv_getItem``, next to ``httpx`` calling
  ``GET /api/items/1`` directly with the service's credential.

Through the bridge the calls use the minimal client on Streamable HTTP 2026-07-28. Each row also
has its like-for-like baseline: the same tool through a bare ``MCPServer`` that proxies the same
backend (``bare_proxy.py``), both servers called on handshake-era Streamable HTTP (the bare
server's only kind of session). The stdio rows have a floor as well: the raw proxy
(``raw_proxy.py``, an ASGI function and a JSON-RPC pipe), called like the bridge.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from load import Call, Side, compare
from mcp import Client, StdioServerParameters
from servers import BACKENDS, BenchmarkError, Fleet, Server
from wire import session

TEXT = "hello, backend"


@dataclass
class SourceRow:
    label: str
    concurrency: int
    bridge: Side
    direct: Side
    bare: Side  # the same tool through a bare MCPServer proxy (bare_proxy.py), handshake era
    bridge_legacy: Side  # the bridge called the way bare is
    raw: Side | None  # the stdio tool through the raw proxy (raw_proxy.py), 2026-07-28


def _through(
    server: Server, wire: str, token: str, tool: str, arguments: dict[str, object], expect: str
) -> Side:
    @contextlib.asynccontextmanager
    async def client() -> AsyncIterator[Call]:
        async with session(wire, "127.0.0.1", server.port, token) as opened:

            async def call() -> None:
                result = await opened.call(tool, arguments)
                if result.get("isError") or expect not in str(result.get("content")):
                    raise BenchmarkError(f"{tool} through the {server.name}: {result}")

            yield call

    return Side(client, server.cpu_seconds)


def _shared(call: Call) -> Side:
    @contextlib.asynccontextmanager
    async def client() -> AsyncIterator[Call]:
        yield call

    return Side(client)


async def source_rows(
    fleet: Fleet, *, concurrencies: tuple[int, ...], calls: int, rounds: int, warmup: int
) -> list[SourceRow]:
    rows: list[SourceRow] = []
    params = StdioServerParameters(
        command=sys.executable, args=[str(BACKENDS / "stdio_server.py"), str(fleet.stdio_record)]
    )
    item_url = f"http://127.0.0.1:{fleet.inventory.port}/api/items/1"
    auth = {"Authorization": f"Bearer {fleet.inventory_secret}"}
    # Entered and left in this task, as the SDK's Client must be.
    async with Client(params, mode="legacy") as stdio, httpx.AsyncClient(headers=auth) as http:

        async def direct_stdio() -> None:
            result = await stdio.call_tool("echo", {"text": TEXT})
            if result.is_error or result.structured_content != {"result": TEXT}:
                raise BenchmarkError(f"echo over stdio: {result}")

        async def direct_http() -> None:
            response = await http.get(item_url)
            if response.status_code != 200 or response.json().get("name") != "bolt":
                raise BenchmarkError(f"GET {item_url}: HTTP {response.status_code}")

        def via(server: Server, wire: str, tool: str, args: dict[str, object], want: str) -> Side:
            return _through(server, wire, fleet.token, tool, args, want)

        echo, item = ("files_echo", {"text": TEXT}, TEXT), ("inv_getItem", {"item_id": 1}, "bolt")
        for concurrency in concurrencies:
            for label, tool, direct in (
                ("stdio MCP tool", echo, _shared(direct_stdio)),
                ("OpenAPI tool", item, _shared(direct_http)),
            ):
                # The bare MCPServer is a handshake-era server: both proxies are called that way
                # in its row, the bridge also in its own (2026-07-28) way against the backend.
                bridge = via(fleet.bridge, "http-2026", *tool)
                bridge_legacy = via(fleet.bridge, "http-legacy", *tool)
                bare = via(fleet.bare_proxy, "http-legacy", *tool)
                # The floor of the stdio rows: a proxy that does nothing but forward.
                raw = via(fleet.raw_proxy, "http-2026", *tool) if tool[0] == "files_echo" else None
                await compare(
                    [bridge, direct, bridge_legacy, bare, *([raw] if raw else [])],
                    concurrency=concurrency,
                    calls=calls,
                    rounds=rounds,
                    warmup=warmup,
                )
                rows.append(SourceRow(label, concurrency, bridge, direct, bare, bridge_legacy, raw))
    return rows
