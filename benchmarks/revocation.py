"""How soon a revoked token is refused while it is in use: ``mcp-vault revoke`` under load.

Clients on Streamable HTTP 2026-07-28 and on SSE keep calling ``echo`` with a token of its own,
and idle SSE sessions of that token keep their streams open; after a second of that,
``mcp-vault revoke`` runs. The figures are the times from the revoke command's exit (its change
is committed by then) to the moment every client has been refused (HTTP 401, or its SSE stream
ended), and to the moment every idle stream was ended by the bridge; upper bounds on its delay.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from servers import REVOKED, BenchmarkError, Fleet, vault
from wire import Session, StreamEnded, WireError

_LOAD_S = 1.0
_GIVE_UP_S = 10.0


@dataclass(frozen=True)
class Refusal:
    calls_s: float  # from the revoke command's exit until every calling client was refused
    streams_s: float | None  # ... until every idle SSE stream was ended (None: no stream open)


async def _until_refused(session: Session, refused: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await session.call("echo", {"text": "still me?"})
        except WireError as exc:
            if exc.status != 401 and not isinstance(exc, StreamEnded):
                raise
            refused.append(time.perf_counter())
            return


async def _until_ended(session: Session, ended: list[float]) -> None:
    await session.stream_ended()
    ended.append(time.perf_counter())


async def refusal(
    port: int, env: dict[str, str], name: str, token: str, *, clients: int = 8, streams: int = 0,
    load_s: float = _LOAD_S,
) -> Refusal:  # fmt: skip
    """``mcp-vault revoke NAME`` while ``clients`` call with ``token`` and ``streams`` idle SSE
    sessions of it are open."""
    wires = ["http-2026", "sse"] * (clients // 2) + ["sse"] * streams
    sessions = [Session(wire, "127.0.0.1", port, token) for wire in wires]
    for session in sessions:
        await session.open()
    callers, idle = sessions[:clients], sessions[clients:]
    refused: list[float] = []
    ended: list[float] = []
    stop = asyncio.Event()
    load = [asyncio.ensure_future(_until_refused(s, refused, stop)) for s in callers]
    load += [asyncio.ensure_future(_until_ended(s, ended)) for s in idle]
    try:
        await asyncio.sleep(load_s)
        if refused or ended:
            raise BenchmarkError("a client was refused before its token was revoked")
        await vault(["revoke", name], env)
        revoked = time.perf_counter()
        done, _ = await asyncio.wait(load, timeout=_GIVE_UP_S)
        for task in done:
            task.result()
        if len(refused) < len(callers) or len(ended) < len(idle):
            raise BenchmarkError(f"a revoked token was still accepted after {_GIVE_UP_S:.0f} s")
        return Refusal(
            max(0.0, max(refused) - revoked),
            max(0.0, max(ended) - revoked) if ended else None,
        )
    finally:
        stop.set()
        for task in load:
            task.cancel()
        await asyncio.gather(*load, return_exceptions=True)
        for session in sessions:
            await session.close()


async def seconds_to_refusal(fleet: Fleet, clients: int = 8) -> float:
    """Seconds from the revoke command's exit until all ``clients`` were refused."""
    found = await refusal(
        fleet.bridge.port, fleet.env, REVOKED, fleet.revoke_token, clients=clients
    )
    return found.calls_s
