"""Rotation against a served bridge: calls through ``mcp-vault rotate``, and a rotate killed by
SIGKILL after each of its steps, then ``rotate --resume``.

Clients (``Traffic``) call ``echo`` back to back with the token they hold, on every wire; after
each rotation they go on with the new token, as an agent does once the vault push reached it
(their sessions survive: the bridge binds a session to the credential, not the token). Every call
counts: an answer that is not the echo, or any error, is a failed call.

The kill uses the rotation's own test hook (``MCP_VAULT_CRASH_AFTER=<step>``, the crash harness
of ``tests/vaults/test_crash.py``): the process SIGKILLs itself right after the step commits.
After each kill the bridge must still accept the token the clients hold and the value the store
holds as current; then ``rotate --resume`` (after ``finish``, nothing is left to resume and
``get --reveal`` gives the new token), and the store must be whole again: no rotation in
progress, the new version current, ``mcp-vault doctor`` clean, the bridge accepting the new
token. The time to recover runs from the kill to that last acceptance.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from servers import BenchmarkError, cli, vault
from wire import WIRES, Session, WireError

from vaults.rotation.journal import CRASH_ENV

STEPS = ("start", "create", "push", "test", "finish")
_TEXT = "through the rotation"
_ACCEPT_WITHIN_S = 5.0


@dataclass
class Traffic:
    """What the clients did: each call's start and duration, and the calls that failed."""

    calls: list[tuple[float, float]] = field(default_factory=list)
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)

    def use_token(self, token: str) -> None:
        for session in self.sessions:
            session.use_token(token)

    def max_ms(self, windows: Sequence[tuple[float, float]]) -> float:
        """The longest call that overlapped one of ``windows`` (start, end)."""
        return 1000 * max(
            (d for s, d in self.calls if any(s < b and s + d > a for a, b in windows)), default=0
        )

    def p50_ms(self) -> float:
        return 1000 * statistics.median(d for _, d in self.calls) if self.calls else 0.0


async def _call_on(traffic: Traffic, session: Session, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            result = await session.call("echo", {"text": _TEXT})
            if result.get("isError") or result.get("structuredContent") != {"result": _TEXT}:
                raise WireError(f"not the echo: {str(result)[:120]}")
        except (WireError, OSError, asyncio.IncompleteReadError) as exc:
            traffic.failed += 1
            traffic.errors.append(f"{session.wire}: {exc}"[:200])
            await session.close()
            await asyncio.sleep(0.05)
            with contextlib.suppress(WireError, OSError, asyncio.IncompleteReadError):
                await session.open()
        finally:
            traffic.calls.append((started, time.perf_counter() - started))


@contextlib.asynccontextmanager
async def traffic(port: int, token: str, clients: int) -> AsyncIterator[Traffic]:
    """``clients`` sessions, over the wires in turn, calling ``echo`` until the block ends."""
    found = Traffic()
    wires = itertools.islice(itertools.cycle(WIRES), clients)
    found.sessions = [Session(wire, "127.0.0.1", port, token) for wire in wires]
    for session in found.sessions:
        await session.open()
    stop = asyncio.Event()
    loops = [asyncio.ensure_future(_call_on(found, s, stop)) for s in found.sessions]
    try:
        yield found
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
        for session in found.sessions:
            await session.close()


async def accepted(port: int, token: str) -> bool:
    """Whether the bridge answers an ``echo`` call with ``token`` (a fresh sessionless client)."""
    session = Session("http-2026", "127.0.0.1", port, token)
    try:
        await session.open()
        result = await session.call("echo", {"text": _TEXT})
        return result.get("structuredContent") == {"result": _TEXT}
    except WireError:
        return False
    finally:
        await session.close()


async def _accepted_soon(port: int, token: str) -> bool:
    deadline = time.monotonic() + _ACCEPT_WITHIN_S
    while not await accepted(port, token):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@dataclass(frozen=True)
class UnderLoad:
    clients: int
    rotations: int
    calls: int
    failed: int
    errors: tuple[str, ...]
    p50_ms: float
    max_ms_rotating: float
    live_tokens: int  # of the tokens minted, how many the bridge still accepts at the end


async def under_load(
    port: int, env: dict[str, str], name: str, token: str, *, clients: int, rotations: int
) -> UnderLoad:
    """``mcp-vault rotate NAME`` ``rotations`` times while ``clients`` keep calling."""
    minted = [token]
    windows: list[tuple[float, float]] = []
    async with traffic(port, token, clients) as calls:
        await asyncio.sleep(0.3)
        for _ in range(rotations):
            started = time.perf_counter()
            new = (await vault(["rotate", name], env)).splitlines()[-1]
            windows.append((started, time.perf_counter()))
            minted.append(new)
            calls.use_token(new)
            await asyncio.sleep(0.1)
    live = sum(await asyncio.gather(*(accepted(port, t) for t in minted)))
    return UnderLoad(
        clients, rotations, len(calls.calls), calls.failed, tuple(calls.errors[:5]),
        calls.p50_ms(), calls.max_ms(windows), live,
    )  # fmt: skip


@dataclass(frozen=True)
class Killed:
    step: str
    killed: bool  # the rotate process died by SIGKILL
    both_accept: bool  # after the kill: the bridge accepts the clients' token and the store's
    resumed: str  # what rotate --resume said (exit code and its line)
    recovered: bool
    recover_s: float
    calls: int
    failed: int

    @property
    def held(self) -> bool:
        return self.killed and self.both_accept and self.recovered and self.failed == 0


async def _current(env: dict[str, str], name: str) -> str:
    return (await vault(["get", name, "--reveal"], env)).strip()


async def _whole(env: dict[str, str], name: str, version: int) -> bool:
    shown, doctor = await asyncio.gather(cli(["show", name, "--json"], env), cli(["doctor"], env))
    info = json.loads(shown.out) if shown.code == 0 else {}
    current = [v["version"] for v in info.get("versions", ()) if v["state"] == "current"]
    return info.get("rotation") is None and current == [version] and doctor.code == 0


async def _kill_at(
    port: int, env: dict[str, str], name: str, step: str, held: str, calls: Traffic, version: int
) -> tuple[Killed, str]:
    before = (len(calls.calls), calls.failed)
    done = await cli(["rotate", name], {**env, CRASH_ENV: step})
    killed_at = time.perf_counter()
    holding, stored = await asyncio.gather(accepted(port, held), _current(env, name))
    both = holding and await accepted(port, stored)
    resumed = await cli(["rotate", name, "--resume"], env)
    expected = 1 if step == "finish" else 0
    new = resumed.out.splitlines()[-1] if resumed.code == 0 else await _current(env, name)
    accepting = await _accepted_soon(port, new)
    recover_s = time.perf_counter() - killed_at
    whole = await _whole(env, name, version + 1)
    calls.use_token(new)
    line = (resumed.err.strip().splitlines() or [""])[-1]
    found = Killed(
        step, done.code == -9, both, f"exit {resumed.code}: {line}",
        resumed.code == expected and accepting and whole and new != held, recover_s,
        len(calls.calls) - before[0], calls.failed - before[1],
    )  # fmt: skip
    return found, new


async def killed_at_each_step(
    port: int, env: dict[str, str], name: str, token: str, *, clients: int,
    steps: Sequence[str] = STEPS,
) -> list[Killed]:  # fmt: skip
    """For each step: a rotate killed right after it, then resumed, while ``clients`` call."""
    found: list[Killed] = []
    held = token
    async with traffic(port, token, clients) as calls:
        await asyncio.sleep(0.2)
        for version, step in enumerate(steps, start=1):
            row, held = await _kill_at(port, env, name, step, held, calls, version)
            found.append(row)
            await asyncio.sleep(0.1)
    if not found:
        raise BenchmarkError("no rotation step to kill at")
    return found
