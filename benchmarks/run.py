"""Every benchmark of the bridge in one run, printed as one Markdown table (README-ready).

Run: ``.venv/bin/python benchmarks/run.py`` (about two minutes) or ``--quick`` (a smoke run
of every row in well under a minute; its figures mean nothing). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from echo import EchoRow, echo_rows
from load import Measured
from report import Parser, load_average, machine, table
from revocation import seconds_to_refusal
from servers import BenchmarkError, Fleet, fleet, ready
from sessions import Footprint, footprints
from sources import SourceRow, source_rows
from verify import VerifyCost, measure
from wire import WIRES

_PROG = "run.py"
_WIRE_LABELS = {
    "sse": "SSE (handshake era)",
    "http-legacy": "Streamable HTTP, handshake era",
    "http-2026": "Streamable HTTP 2026-07-28",
}


@dataclass(frozen=True)
class Settings:
    calls: int
    rounds: int
    warmup: int
    source_calls: int
    sessions: int
    verify_counts: tuple[int, ...]
    verify_rounds: int


FULL = Settings(
    calls=2000,
    rounds=10,
    warmup=20,
    source_calls=1000,
    sessions=1000,
    verify_counts=(10, 10_000),
    verify_rounds=100_000,
)
QUICK = Settings(
    calls=40,
    rounds=2,
    warmup=2,
    source_calls=10,
    sessions=20,
    verify_counts=(10, 100),
    verify_rounds=2_000,
)


@dataclass
class Results:
    echo: list[EchoRow]
    sources: list[SourceRow]
    memory: dict[str, dict[str, Footprint]]
    refusal_s: float
    verify: list[VerifyCost]


GROUPS = ("echo", "sources", "memory", "revocation", "verify")


async def run(settings: Settings, only: frozenset[str] = frozenset(GROUPS)) -> Results:
    echo: list[EchoRow] = []
    sources: list[SourceRow] = []
    memory: dict[str, dict[str, Footprint]] = {}
    refusal = float("nan")
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp:
        async with fleet(Path(tmp)) as servers:
            await ready(servers.bridge)
            if "echo" in only:
                echo = await _echo(servers, settings)
            if "sources" in only:
                sources = await source_rows(
                    servers,
                    concurrencies=(1, 8),
                    calls=settings.source_calls,
                    rounds=settings.rounds,
                    warmup=settings.warmup,
                )
            if "memory" in only:
                memory = {
                    "bridge": await footprints(servers.bridge, servers.token, settings.sessions),
                    "bare": await footprints(servers.bare, servers.token, settings.sessions),
                }
            if "revocation" in only:
                refusal = await seconds_to_refusal(servers)
    verify: list[VerifyCost] = []
    if "verify" in only:
        verify = await asyncio.to_thread(measure, settings.verify_counts, settings.verify_rounds)
    return Results(echo, sources, memory, refusal, verify)


async def _echo(servers: Fleet, settings: Settings) -> list[EchoRow]:
    return await echo_rows(
        servers.bridge,
        servers.bare,
        servers.token,
        wires=WIRES,
        concurrencies=(1, 8),
        calls=settings.calls,
        rounds=settings.rounds,
        warmup=settings.warmup,
    )


# --- the table -------------------------------------------------------------------------------


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _ratio(bridge: float, base: float, at_least: float | None = None) -> str:
    if base == 0:
        return "n/a"
    ratio = bridge / base
    mark = "" if at_least is None else (" ✓" if ratio >= at_least else " ✗")
    return f"{ratio:.2f}x{mark}"


def _table_rows(results: Results) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    for echo in results.echo:
        where = f"echo, {_WIRE_LABELS[echo.wire]}, c={echo.concurrency}"
        b, a = echo.bridge.measured, echo.bare.measured
        rows += _speed_rows(where, b, a, "≥ 1.0x", 1.0)
        p50 = b.percentile_ms(50) - a.percentile_ms(50)
        rows.append(
            (
                f"{where}: p50 ms",
                _n(b.percentile_ms(50), 3),
                _n(a.percentile_ms(50), 3),
                "≤ +0.10 ms",
                f"{p50:+.3f} ms{' ✓' if p50 <= 0.1 else ' ✗'}",
            )
        )
        rows.append(
            (
                f"{where}: server CPU µs/call",
                _n(b.cpu_us_per_call),
                _n(a.cpu_us_per_call),
                "",
                _ratio(b.cpu_us_per_call, a.cpu_us_per_call),
            )
        )
    for source in results.sources:
        where = f"{source.label} via the bridge vs direct, c={source.concurrency}"
        rows += _speed_rows(where, source.bridge.measured, source.direct.measured, "≥ 0.8x", 0.8)
        where = f"{source.label} via the bridge vs a bare MCPServer proxy, c={source.concurrency}"
        rows += _speed_rows(
            where, source.bridge_legacy.measured, source.bare.measured, "≥ 1.0x", 1.0
        )
        if source.raw is not None:
            where = f"{source.label} via the bridge vs a raw proxy, c={source.concurrency}"
            rows.append(
                (
                    f"{where}: calls/s",
                    _n(source.bridge.measured.rate),
                    _n(source.raw.measured.rate),
                    "",
                    _ratio(source.bridge.measured.rate, source.raw.measured.rate),
                )
            )
    for wire, label in (("sse", "SSE"), ("http-legacy", "/mcp (handshake era)")):
        if not results.memory:
            break
        bridge, bare = results.memory["bridge"][wire], results.memory["bare"][wire]
        kib, base = bridge.kib_per_session, bare.kib_per_session
        rows.append(
            (
                f"{bridge.sessions:,} idle {label} sessions: KiB each",
                _n(kib, 1),
                _n(base, 1),
                "≤ 120 KB",
                f"{_ratio(kib, base)}{' ✓' if kib * 1.024 <= 120 else ' ✗'}",
            )
        )
    rows += _verify_rows(results)
    if results.refusal_s == results.refusal_s:  # not NaN: the group ran
        rows.append(
            (
                "revoked token refused under load (c=8), s after `mcp-vault revoke`",
                _n(results.refusal_s, 2),
                "—",
                "≤ 1 s",
                "✓" if results.refusal_s <= 1 else "✗",
            )
        )
    return rows


def _verify_rows(results: Results) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    if not results.verify:
        return rows
    smallest, largest = results.verify[0], results.verify[-1]
    for attr, what in (("valid_ns", "a valid token"), ("unknown_ns", "an unknown key id")):
        big, small = getattr(largest, attr) / 1000, getattr(smallest, attr) / 1000
        rows.append(
            (
                f"verify {what}, µs: {largest.tokens:,} vs {smallest.tokens:,} tokens",
                _n(big, 2),
                _n(small, 2),
                "≤ 5 µs, flat",
                f"{big / small:.2f}x{' ✓' if big <= 5 and small <= 5 else ' ✗'}",
            )
        )
    return rows


def _speed_rows(
    where: str, bridge: Measured, base: Measured, target: str, at_least: float
) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            f"{where}: calls/s",
            _n(bridge.rate),
            _n(base.rate),
            target,
            _ratio(bridge.rate, base.rate, at_least),
        )
    ]


def render(results: Results, settings: Settings, load: Sequence[str]) -> str:
    """The whole report: a few lines on the machine and the run, then the Markdown table."""
    header = ("row", "bridge", "baseline", "target", "bridge / baseline")
    bridge_stack = (
        f"{'uvloop' if find_spec('uvloop') else 'asyncio'} + "
        f"{'httptools' if find_spec('httptools') else 'h11'}"
    )
    notes = [
        f"{machine()}, mcp {metadata.version('mcp')}, uvicorn {metadata.version('uvicorn')}",
        f"load average before/after: {load[0]} / {load[1]}; {settings.calls:,} echo calls and "
        f"{settings.source_calls:,} proxied calls per row and side, {settings.rounds} "
        f"interleaved blocks",
        f"bridge: `mcp-bridge serve` ({bridge_stack}); baseline for echo and memory: a default "
        "`MCPServer` with the SDK's bearer check (asyncio + h11)",
        "",
        *table(header, _table_rows(results)),
    ]
    return "\n".join(notes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog=_PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few calls per row (smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        choices=GROUPS,
        metavar="GROUP",
        help=f"run only this group (repeatable): {', '.join(GROUPS)}",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    only = frozenset(args.only or GROUPS)
    before = load_average()
    try:
        results = _run(settings, only)
    except (BenchmarkError, OSError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(render(results, settings, (before, load_average())))
    return 0


def _run(settings: Settings, only: frozenset[str]) -> Results:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(run(settings, only))
    # The client is kept light on its own core, so that the servers are what is measured.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run(settings, only))


if __name__ == "__main__":
    sys.exit(main())
