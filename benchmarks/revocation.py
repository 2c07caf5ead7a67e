"""How soon a revoked token is refused while it is in use: ``mcp-vault revoke`` under load.

Clients on Streamable HTTP 2026-07-28 and on SSE keep calling ``echo`` with a token of its own;
after a second of that, ``mcp-vault revoke`` runs. The figure is the time from the revoke
command's exit (its change is committed by then) to the moment every client has been refused
(HTTP 401), so it is an upper bound on the bridge's delay.
"""

from __future__ import annotations

import asyncio
import time

from servers import REVOKED, BenchmarkError, Fleet, vault
from wire import Session, WireError

_LOAD_S = 1.0
_GIVE_UP_S = 10.0


async def _until_refused(session: Session, refused: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await session.call("echo", {"text": "still me?"})
        except WireError as exc:
            if exc.status != 401:
                raise
            refused.append(time.perf_counter())
            return


async def seconds_to_refusal(fleet: Fleet, clients: int = 8) -> float:
    """Seconds from the revoke command's exit until all ``clients`` were refused."""
    wires = ["http-2026", "sse"] * (clients // 2)
    sessions = [Session(wire, "127.0.0.1", fleet.bridge.port, fleet.revoke_token) for wire in wires]
    for session in sessions:
        await session.open()
    refused: list[float] = []
    stop = asyncio.Event()
    load = [asyncio.ensure_future(_until_refused(s, refused, stop)) for s in sessions]
    try:
        await asyncio.sleep(_LOAD_S)
        if refused:
            raise BenchmarkError("a client was refused before its token was revoked")
        await vault(["revoke", REVOKED], fleet.env)
        revoked = time.perf_counter()
        done, _ = await asyncio.wait(load, timeout=_GIVE_UP_S)
        for task in done:
            task.result()
        if len(refused) < len(sessions):
            raise BenchmarkError(f"a revoked token was still accepted after {_GIVE_UP_S:.0f} s")
        return max(0.0, max(refused) - revoked)
    finally:
        stop.set()
        for task in load:
            task.cancel()
        await asyncio.gather(*load, return_exceptions=True)
        for session in sessions:
            await session.close()
