"""Bridge replicas on one PostgreSQL store: calls/s through 2 replicas vs 1, revocation across
replicas, and the cost of ``verify`` on each engine; rows in ``run.py``'s table format.

Run: ``.venv/bin/python benchmarks/replicas.py`` (about a minute) or ``--quick`` (a smoke run;
its figures mean nothing). The store is the PostgreSQL database of ``MCP_VAULT_DATABASE_URL``
(its current schema must be empty), else a throwaway server started from Debian's
``postgresql`` binaries in a temporary directory. Standalone: ``run.py`` builds its table from
fixed rows (no registry to hook into), so these rows are printed in the same columns, ready to
paste under it.

- calls/s: ``mcp-bridge serve`` twice on one machine (same database, their own store
  directories, one data key file), ``echo`` over Streamable HTTP 2026-07-28 (sessionless), each
  client's kept-alive connection to the next replica (what a load balancer without stickiness
  does per connection), against the same clients all on one replica; interleaved blocks
  (``load.py``). On 2 cores the clients share the machine, so this shows the replicas' overhead
  and headroom, not a fleet's capacity.
- revocation: seconds from ``mcp-vault revoke``'s exit until both replicas answer 401.
- verify: ``TokenIndex.verify`` of a valid token and of an unknown key id with 10,000 tokens, on a
  PostgreSQL store vs a SQLite one (both in memory; the engine only decides how changes arrive).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from load import Call, Side, compare
from report import Parser, table
from servers import BIN, ROOT, TOOL_MODULE, BenchmarkError, Server, environment, start, vault
from verify import _ns_per_verify
from wire import session

sys.path.insert(0, str(ROOT))

from tests.support.postgres import find_binaries, running_server
from vaults import Store, tokens
from vaults.cipher import create_key_file

_PROG = "replicas.py"
TEXT = "hello, replicas"
CONFIG = """\
[server]
name = "replicas"
host = "127.0.0.1"
port = 0

[[tools.python]]
module = "bench_echo"
"""


@dataclass(frozen=True)
class Settings:
    calls: int
    rounds: int
    warmup: int
    concurrency: int
    verify_tokens: int
    verify_rounds: int


FULL = Settings(calls=3000, rounds=6, warmup=20, concurrency=8, verify_tokens=10_000,
                verify_rounds=100_000)  # fmt: skip
QUICK = Settings(calls=60, rounds=2, warmup=2, concurrency=4, verify_tokens=50,
                 verify_rounds=2_000)  # fmt: skip


@contextlib.contextmanager
def database() -> Iterator[str]:
    """``MCP_VAULT_DATABASE_URL``, else a throwaway server's database."""
    url = os.environ.get("MCP_VAULT_DATABASE_URL")
    if url:
        yield url
        return
    bindir = find_binaries()
    if bindir is None:
        raise BenchmarkError(
            "no PostgreSQL: set MCP_VAULT_DATABASE_URL, or install Debian's postgresql package"
        )
    with running_server(bindir) as server:
        yield server.url(server.new_schema())


def _client(replicas: Sequence[Server], token: str) -> Side:
    turn = itertools.count()

    @contextlib.asynccontextmanager
    async def client() -> AsyncIterator[Call]:
        server = replicas[next(turn) % len(replicas)]
        async with session("http-2026", "127.0.0.1", server.port, token) as opened:

            async def call() -> None:
                result = await opened.call("echo", {"text": TEXT})
                if result.get("isError") or result.get("structuredContent") != {"result": TEXT}:
                    raise BenchmarkError(f"echo on port {server.port} did not echo: {result}")

            yield call

    return Side(client, lambda: sum(server.cpu_seconds() for server in replicas))


async def _refusal_s(env: dict[str, str], replicas: Sequence[Server], token: str) -> float:
    await vault(["revoke", "bench-revoke"], env)
    revoked = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as http:
        waiting = list(replicas)
        while waiting:
            for server in list(waiting):
                answer = await http.post(
                    f"http://127.0.0.1:{server.port}/mcp",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                )
                if answer.status_code == 401:
                    waiting.remove(server)
            if time.monotonic() - revoked > 10:
                raise BenchmarkError("a revoked token was still accepted after 10 s")
    return time.monotonic() - revoked


@dataclass
class Results:
    two: Side
    one: Side
    refusal_s: float
    verify_us: dict[str, tuple[float, float]]  # engine -> (valid, unknown)


async def measure_replicas(settings: Settings, url: str, workdir: Path) -> tuple[Side, Side, float]:
    env = environment(workdir)
    key = workdir / "data.key"
    create_key_file(key)
    env.update(MCP_VAULT_DATABASE_URL=url, MCP_VAULT_DATA_KEY=str(key))
    await vault(["init"], env)
    token = (await vault(["add", "bench", "--kind", "token"], env)).strip().splitlines()[-1]
    revoked = (await vault(["add", "bench-revoke", "--kind", "token"], env)).strip()
    (workdir / "bench_echo.py").write_text(TOOL_MODULE)
    (workdir / "bridge.toml").write_text(CONFIG)
    replicas: list[Server] = []
    try:
        for n in range(2):
            replicas.append(
                await start(
                    f"replica {n}",
                    [str(BIN / "mcp-bridge"), "serve", "--config", str(workdir / "bridge.toml")],
                    {**env, "MCP_VAULT_DIR": str(workdir / f"replica{n}")},
                    r"Streamable HTTP: http://127\.0\.0\.1:(\d+)/mcp",
                    log=workdir / f"replica{n}.log",
                    cwd=workdir,
                )
            )
        two, one = _client(replicas, token), _client(replicas[:1], token)
        await compare([two, one], concurrency=settings.concurrency, calls=settings.calls,
                      rounds=settings.rounds, warmup=settings.warmup)  # fmt: skip
        refusal = await _refusal_s(env, replicas, revoked.splitlines()[-1])
    finally:
        await asyncio.gather(*(server.stop() for server in replicas))
    return two, one, refusal


def measure_verify(settings: Settings, url: str, workdir: Path) -> dict[str, tuple[float, float]]:
    found = {}
    unknown = [tokens.generate() for _ in range(1000)]
    for engine, where in (("postgresql", url), ("sqlite", "")):
        with Store.open(workdir / f"verify-{engine}", database_url=where) as store:
            index = store.index
            minted = []
            with index.write():
                for i in range(settings.verify_tokens):
                    token = tokens.generate()
                    parsed = tokens.parse(token)
                    assert parsed is not None
                    cid = index.credentials.insert(f"v{i}", "token", (), None, time.time())
                    digest = tokens.hash_secret(parsed.secret)
                    index.versions.insert(cid, 1, "current", parsed.kid, digest, time.time())
                    minted.append(token)
            # The bridge's own intervals: misses are rate-limited on PostgreSQL by default.
            with store.token_index() as verifier:
                assert all(verifier.verify(token) for token in minted[:1000])
                valid = _ns_per_verify(verifier, minted[:1000], settings.verify_rounds)
                missing = _ns_per_verify(verifier, unknown, settings.verify_rounds)
        found[engine] = (valid / 1000, missing / 1000)
    return found


def _mark(ok: bool) -> str:
    return " ✓" if ok else " ✗"


def render(results: Results, settings: Settings) -> str:
    two, one = results.two.measured, results.one.measured
    pg, lite = results.verify_us["postgresql"], results.verify_us["sqlite"]
    count = f"{settings.verify_tokens:,} tokens"
    p50 = two.percentile_ms(50) - one.percentile_ms(50)
    rows = [
        ("row", "bridge", "baseline", "target", "bridge / baseline"),
        (
            f"echo, Streamable HTTP 2026-07-28, c={settings.concurrency}: calls/s, "
            "2 replicas vs 1 (one PostgreSQL store)",
            f"{two.rate:,.0f}",
            f"{one.rate:,.0f}",
            "≥ 1.0x",
            f"{two.rate / one.rate:.2f}x{_mark(two.rate >= one.rate)}",
        ),
        (
            "  same: p50 ms, 2 replicas vs 1",
            f"{two.percentile_ms(50):.3f}",
            f"{one.percentile_ms(50):.3f}",
            "",
            f"{p50:+.3f} ms",
        ),
        (
            "  same: server CPU µs/call (both replicas) vs 1",
            f"{two.cpu_us_per_call:,.0f}",
            f"{one.cpu_us_per_call:,.0f}",
            "",
            f"{two.cpu_us_per_call / one.cpu_us_per_call:.2f}x",
        ),
        (
            "revoked token refused by both replicas, s after `mcp-vault revoke`",
            f"{results.refusal_s:.3f}",
            "—",
            "≤ 1 s",
            _mark(results.refusal_s <= 1).strip(),
        ),
    ]
    for n, what in ((0, "a valid token"), (1, "an unknown key id")):
        rows.append(
            (
                f"verify {what}, µs, {count}: PostgreSQL vs SQLite",
                f"{pg[n]:.2f}",
                f"{lite[n]:.2f}",
                "≤ 5 µs",
                f"{pg[n] / lite[n]:.2f}x{_mark(pg[n] <= 5)}",
            )
        )
    return "\n".join(
        [
            f"{os.cpu_count()} CPUs; {settings.calls:,} calls per side in {settings.rounds} "
            "interleaved blocks",
            "",
            *table(rows[0], rows[1:]),
        ]
    )


async def run(settings: Settings) -> Results:
    with tempfile.TemporaryDirectory(prefix="bridge-replicas-") as tmp, database() as url:
        two, one, refusal = await measure_replicas(settings, url, Path(tmp))
        # The verify figures read the same store, in this process (the index only: no values).
        verify = await asyncio.to_thread(measure_verify, settings, url, Path(tmp))
    return Results(two, one, refusal, verify)


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog=_PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few calls per row (smoke test)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    try:
        results = asyncio.run(run(settings))
    except (BenchmarkError, OSError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(render(results, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
