"""Memory per idle session: the server's RSS before and after ``count`` clients connect and idle.

A session is opened the way a client leaves it while idle: SSE is a ``GET /sse`` stream after
``initialize`` and ``notifications/initialized``; handshake-era Streamable HTTP is the same
handshake plus the standalone ``GET /mcp`` stream the SDK client keeps. The POST connection is
closed after the handshake, so only what a session holds is counted. Sessions open ``_BATCH``
at a time; a few of each kind are opened and closed first so that code paths and caches are
warm, and each kind is measured while the earlier kinds stay open (closing them first would
let the next kind reuse their freed memory, which RSS does not give back).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from servers import Server
from wire import Session

_BATCH = 50
_SETTLE_S = 0.5


@dataclass
class Footprint:
    sessions: int
    rss_before_kib: int
    rss_after_kib: int

    @property
    def kib_per_session(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.sessions


async def _open(server: Server, wire: str, token: str) -> Session:
    session = Session(wire, "127.0.0.1", server.port, token)
    await session.open(get_stream=wire == "http-legacy")
    await session.idle()
    return session


async def footprints(
    server: Server, token: str, count: int, wires: tuple[str, ...] = ("sse", "http-legacy")
) -> dict[str, Footprint]:
    """Open ``count`` idle sessions per wire, one wire after the other, each measured while the
    earlier ones stay open (so no wire reuses memory another freed); then close them all."""
    for wire in wires:
        for session in [await _open(server, wire, token) for _ in range(5)]:
            await session.close()
    await asyncio.sleep(_SETTLE_S)
    found: dict[str, Footprint] = {}
    opened: list[Session] = []
    try:
        for wire in wires:
            before = server.rss_kib()
            for start in range(0, count, _BATCH):
                batch = min(_BATCH, count - start)
                opened += await asyncio.gather(*(_open(server, wire, token) for _ in range(batch)))
            await asyncio.sleep(_SETTLE_S)
            found[wire] = Footprint(count, before, server.rss_kib())
    finally:
        for start in range(0, len(opened), _BATCH):
            await asyncio.gather(*(s.close() for s in opened[start : start + _BATCH]))
    return found
