"""Proxied tools: the bridge's cost on top of calling the backend directly.

- A stdio MCP server (``tests/bridge/backends/stdio_server.py``) behind ``[[tools.mcp]]``, its
  ``echo`` called through the bridge as ``files_echo``, next to the SDK's ``Client`` calling the
  same server directly over stdio (one session, shared by the ``c`` callers, as the bridge's is).
- An HTTP service (``tests/bridge/backends/inventory.py``) behind ``[[tools.openapi]]``, its
  ``getItem`` called through the bridge as ``inv_getItem``, next to ``httpx`` calling
  ``GET /api/items/1`` directly with the service's credential.

Through the bridge the calls use the minimal client on Streamable HTTP 2026-07-28.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from load import Call, Side, compare
from mcp import Client, StdioServerParameters
from servers import BACKENDS, BenchmarkError, Fleet
from wire import session

TEXT = "hello, backend"


@dataclass
class SourceRow:
    label: str
    concurrency: int
    bridge: Side
    direct: Side


def _through_bridge(fleet: Fleet, tool: str, arguments: dict[str, object], expect: str) -> Side:
    @contextlib.asynccontextmanager
    async def client() -> AsyncIterator[Call]:
        async with session("http-2026", "127.0.0.1", fleet.bridge.port, fleet.token) as opened:

            async def call() -> None:
                result = await opened.call(tool, arguments)
                if result.get("isError") or expect not in str(result.get("content")):
                    raise BenchmarkError(f"{tool} through the bridge: {result}")

            yield call

    return Side(client, fleet.bridge.cpu_seconds)


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

        for concurrency in concurrencies:
            for label, bridge, direct in (
                (
                    "stdio MCP tool",
                    _through_bridge(fleet, "files_echo", {"text": TEXT}, TEXT),
                    _shared(direct_stdio),
                ),
                (
                    "OpenAPI tool",
                    _through_bridge(fleet, "inv_getItem", {"item_id": 1}, "bolt"),
                    _shared(direct_http),
                ),
            ):
                await compare(
                    [bridge, direct],
                    concurrency=concurrency,
                    calls=calls,
                    rounds=rounds,
                    warmup=warmup,
                )
                rows.append(SourceRow(label, concurrency, bridge, direct))
    return rows
