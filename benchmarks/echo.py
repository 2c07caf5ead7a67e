"""Echo rows: an authenticated ``echo`` call through the bridge and through the bare server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from load import Call, Side, compare
from servers import BenchmarkError, Server
from wire import session

TEXT = "hello, bridge"


def wire_client(server: Server, wire: str, token: str, tool: str = "echo") -> Side:
    @contextlib.asynccontextmanager
    async def client() -> AsyncIterator[Call]:
        async with session(wire, "127.0.0.1", server.port, token) as opened:

            async def call() -> None:
                result = await opened.call(tool, {"text": TEXT})
                if result.get("isError") or result.get("structuredContent") != {"result": TEXT}:
                    raise BenchmarkError(f"{tool} over {wire} did not echo: {result}")

            yield call

    return Side(client, server.cpu_seconds)


@dataclass
class EchoRow:
    wire: str
    concurrency: int
    bridge: Side
    bare: Side


async def echo_rows(
    bridge: Server,
    bare: Server,
    token: str,
    *,
    wires: tuple[str, ...],
    concurrencies: tuple[int, ...],
    calls: int,
    rounds: int,
    warmup: int,
) -> list[EchoRow]:
    rows = []
    for concurrency in concurrencies:
        for wire in wires:
            row = EchoRow(
                wire, concurrency, wire_client(bridge, wire, token), wire_client(bare, wire, token)
            )
            await compare(
                [row.bridge, row.bare],
                concurrency=concurrency,
                calls=calls,
                rounds=rounds,
                warmup=warmup,
            )
            rows.append(row)
    return rows
