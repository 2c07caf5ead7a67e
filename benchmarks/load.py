"""Closed-loop load: ``c`` clients each making calls back to back, timed in interleaved blocks.

A block opens its clients, warms each up with untimed calls, then times ``calls`` calls spread
over them: client-side latency of each call, the block's wall time, and the CPU the server
process used meanwhile. Blocks of the two sides of a row alternate (A B B A A B ...), so drift
on a shared machine falls on both sides alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Call = Callable[[], Awaitable[None]]
# Opens one client and yields its call; entered once per client per block.
Client = Callable[[], contextlib.AbstractAsyncContextManager[Call]]


@dataclass
class Measured:
    """Everything timed for one side of a row, over all its blocks."""

    latencies_ns: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    blocks: list[tuple[int, float, float]] = field(default_factory=list)  # calls, wall, cpu

    @property
    def calls(self) -> int:
        return len(self.latencies_ns)

    @property
    def rate(self) -> float:
        return self.calls / self.wall_s if self.wall_s else 0.0

    def percentile_ms(self, p: int) -> float:
        if self.calls == 1:
            return self.latencies_ns[0] / 1e6
        return statistics.quantiles(self.latencies_ns, n=100, method="inclusive")[p - 1] / 1e6

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_s / self.calls * 1e6 if self.calls else 0.0


@dataclass
class Side:
    """One side of a comparison: how to open a client, and whose CPU to count."""

    client: Client
    cpu: Callable[[], float] = lambda: 0.0
    measured: Measured = field(default_factory=Measured)


async def block(side: Side, concurrency: int, calls: int, warmup: int) -> None:
    counts = [calls // concurrency + (i < calls % concurrency) for i in range(concurrency)]
    latencies: list[int] = []
    async with contextlib.AsyncExitStack() as stack:
        workers = [await stack.enter_async_context(side.client()) for _ in range(concurrency)]
        await asyncio.gather(*(_repeat(call, warmup) for call in workers))
        cpu_before, wall_before = side.cpu(), time.perf_counter()
        await asyncio.gather(
            *(_timed(call, count, latencies) for call, count in zip(workers, counts, strict=True))
        )
        wall = time.perf_counter() - wall_before
        cpu = side.cpu() - cpu_before
    side.measured.latencies_ns += latencies
    side.measured.wall_s += wall
    side.measured.cpu_s += cpu
    if calls:
        side.measured.blocks.append((calls, wall, cpu))


async def _repeat(call: Call, count: int) -> None:
    for _ in range(count):
        await call()


async def _timed(call: Call, count: int, latencies: list[int]) -> None:
    clock = time.perf_counter_ns
    for _ in range(count):
        started = clock()
        await call()
        latencies.append(clock() - started)


async def compare(
    sides: Sequence[Side], *, concurrency: int, calls: int, rounds: int, warmup: int
) -> None:
    """Time ``calls`` calls on each side in ``rounds`` interleaved blocks (plus a warm-up one)."""
    for side in sides:
        await block(side, 1, 0, warmup)
    order = list(sides)
    for index in range(rounds):
        share = calls // rounds + (index < calls % rounds)
        for side in order if index % 2 == 0 else order[::-1]:
            await block(side, concurrency, share, max(1, warmup // concurrency))


@contextlib.asynccontextmanager
async def opened(enter: Callable[[], Awaitable[Any]], exit: Callable[[Any], Awaitable[None]],
                 make_call: Callable[[Any], Call]) -> AsyncIterator[Call]:  # fmt: skip
    handle = await enter()
    try:
        yield make_call(handle)
    finally:
        await exit(handle)
