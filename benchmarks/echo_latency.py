"""Latency of an authenticated ``echo`` call through the bridge, next to a bare ``MCPServer``.

Run: ``.venv/bin/python benchmarks/echo_latency.py [--calls N] [--concurrency 1 --concurrency 8]``.

Both servers run under uvicorn on 127.0.0.1, each in its own subprocess (this script, started
with the hidden ``--serve`` option), so the client's CPU is not the servers'. One client code
path drives both over Streamable HTTP (client pinned to the legacy and to the 2026-07-28 era) and
SSE, in the same run, in interleaved blocks (bridge, bare, bare, bridge, ...) to cancel drift.
The bridge is built the way ``mcp-bridge serve`` builds it (config file, vault store, registry,
token index, ``create_app``); the vault is a throwaway directory with the project's encrypted
keyring backend, so the user's keyring is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import click
import httpx2
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client, MCPError
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

SERVERS = ("bridge", "bare")
TOKEN_NAME = "bench"
TEXT = "hello, bridge"
_READY = "ready"
_PROG = "echo_latency.py"
_STARTUP_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0

_BRIDGE_TOML = f"""\
[server]
name = "bench"
host = "127.0.0.1"
port = 0

[auth]
tokens = ["{TOKEN_NAME}"]

[[tools.python]]
module = "bench_echo"
"""

_TOOL_MODULE = '''\
from bridge import tool


@tool
def echo(text: str) -> str:
    """Echo the text back."""
    return text
'''


@dataclass(frozen=True)
class Transport:
    """One way to reach a server: ``kind`` is ``http`` or ``sse``; ``mode`` the pinned era."""

    label: str
    kind: str
    mode: str


TRANSPORTS = {
    "http-legacy": Transport("http legacy", "http", "legacy"),
    "http-2026": Transport("http 2026-07-28", "http", "2026-07-28"),
    "sse-legacy": Transport("sse legacy", "sse", "legacy"),
    "sse-2026": Transport("sse 2026-07-28", "sse", "2026-07-28"),
}
DEFAULT_TRANSPORTS = ("http-legacy", "http-2026", "sse-legacy")


class BenchmarkError(Exception):
    """The benchmark could not run: a server did not start, or a call did not echo."""


@dataclass
class _Server:
    name: str
    url: str
    process: Process
    output: BufferedByteReceiveStream

    async def line(self) -> str:
        with anyio.fail_after(_STARTUP_TIMEOUT):
            return (await self.output.receive_until(b"\n", 200)).decode()

    async def cpu_seconds(self) -> float:
        """The server process's CPU time so far (all threads), as it measures it itself."""
        assert self.process.stdin is not None
        await self.process.stdin.send(b"cpu\n")
        word, _, value = (await self.line()).partition(" ")
        if word != "cpu":
            raise BenchmarkError(f"the {self.name} server answered {word!r} to a CPU query")
        return float(value)


@dataclass
class _Block:
    latencies_ms: list[float]
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float


@dataclass
class Row:
    """Everything measured for one server over one transport at one concurrency."""

    server: str
    transport: Transport
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def add(self, block: _Block) -> None:
        self.latencies_ms += block.latencies_ms
        self.wall_s += block.wall_s
        self.server_cpu_s += block.server_cpu_s
        self.client_cpu_s += block.client_cpu_s

    @property
    def calls(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, p: int) -> float:
        if self.calls == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]

    @property
    def rate(self) -> float:
        return self.calls / self.wall_s if self.wall_s else 0.0

    @property
    def server_us_per_call(self) -> float:
        return self.server_cpu_s / self.calls * 1e6

    @property
    def client_us_per_call(self) -> float:
        return self.client_cpu_s / self.calls * 1e6


# --- servers (child processes) ---------------------------------------------------------------


def _bridge_app(config_path: Path, port: int) -> tuple[Any, contextlib.ExitStack]:
    from bridge.app import create_app
    from bridge.config import load_config
    from bridge.tools.loader import build_registry
    from vaults.store import Store

    cleanup = contextlib.ExitStack()
    config = load_config(config_path, overrides={"port": port})
    store = cleanup.enter_context(Store.open(Path(os.environ["MCP_VAULT_DIR"]), create=False))
    registry = build_registry(config, store.secret_resolver())
    verifier = cleanup.enter_context(store.token_index(config.auth.tokens))
    return create_app(config, registry, verifier), cleanup


def _bare_app() -> Any:
    from mcp.server.mcpserver import MCPServer
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route

    mcp = MCPServer("bare")

    @mcp.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    http_app = mcp.streamable_http_app()
    sse_app = mcp.sse_app()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    return Starlette(
        routes=[
            Route("/sse", endpoint=sse_app, methods=["GET"]),
            Route("/messages/", endpoint=sse_app, methods=["POST"]),
            Mount("/", app=http_app),
        ],
        lifespan=lifespan,
    )


def _answer_cpu_queries() -> None:
    # process_time() counts every thread, including the worker threads sync tools run in.
    for line in sys.stdin:
        if line.strip() == "cpu":
            print(f"cpu {time.process_time()!r}", flush=True)


def _serve(kind: str, config_path: Path | None, log_level: str) -> None:
    import uvicorn

    from bridge.serve import bind

    class _AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(f"{_READY} {port}", flush=True)

    threading.Thread(target=_answer_cpu_queries, daemon=True).start()
    sock = bind("127.0.0.1", 0)  # the listening socket `mcp-bridge serve` uses, for both servers
    port = sock.getsockname()[1]
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(sock.close)
        if kind == "bridge":
            if config_path is None:
                raise click.UsageError("--serve bridge needs --config")
            app, resources = _bridge_app(config_path, port)
            cleanup.enter_context(resources)
        else:
            app = _bare_app()
        # MCPServer() sets the root logger to INFO; the servers should log alike, at one level.
        logging.getLogger().setLevel(log_level.upper())
        config = uvicorn.Config(
            app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=2
        )
        _AnnouncingServer(config).run(sockets=[sock])


# --- the client side -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _connect(url: str, transport: Transport, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    if transport.kind == "sse":
        async with Client(sse_client(f"{url}/sse", headers=headers), mode=transport.mode) as c:
            yield c
        return
    timeout = httpx2.Timeout(30, read=60)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=transport.mode) as c,
    ):
        yield c


async def _echo(client: Client) -> None:
    result = await client.call_tool("echo", {"text": TEXT})
    if result.is_error or result.structured_content != {"result": TEXT}:
        raise BenchmarkError(f"echo did not echo: {result.content!r}")


async def _block(
    server: _Server, transport: Transport, token: str, concurrency: int, warmup: int, calls: int
) -> _Block:
    """Open ``concurrency`` clients, warm each up, then time ``calls`` calls spread over them."""
    latencies: list[float] = []
    counts = [calls // concurrency + (i < calls % concurrency) for i in range(concurrency)]
    ready, done = [0], [0]
    all_ready, go, all_done = anyio.Event(), anyio.Event(), anyio.Event()

    async def worker(count: int) -> None:
        async with _connect(server.url, transport, token) as client:
            for _ in range(warmup):
                await _echo(client)
            ready[0] += 1
            if ready[0] == concurrency:
                all_ready.set()
            await go.wait()
            for _ in range(count):
                started = time.perf_counter_ns()
                await _echo(client)
                latencies.append((time.perf_counter_ns() - started) / 1e6)
            done[0] += 1
            if done[0] == concurrency:
                all_done.set()

    limit = 60 + (calls + warmup * concurrency) * 0.2
    try:
        with anyio.fail_after(limit):
            async with anyio.create_task_group() as tg:
                for count in counts:
                    tg.start_soon(worker, count)
                await all_ready.wait()
                cpu_before = await server.cpu_seconds()
                client_before = time.process_time()
                wall_before = time.perf_counter()
                go.set()
                await all_done.wait()
                wall = time.perf_counter() - wall_before
                client_cpu = time.process_time() - client_before
                cpu_after = await server.cpu_seconds()
    except TimeoutError:
        raise BenchmarkError(
            f"{calls} calls to the {server.name} server over {transport.label} "
            f"took more than {limit:.0f} s"
        ) from None
    return _Block(latencies, wall, cpu_after - cpu_before, client_cpu)


async def _start(name: str, args: Sequence[str], env: dict[str, str]) -> _Server:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", name, *args]
    process = await anyio.open_process(command, stderr=None, env=env)
    assert process.stdout is not None
    server = _Server(name, "", process, BufferedByteReceiveStream(process.stdout))
    try:
        line = await server.line()
    except (TimeoutError, anyio.EndOfStream, anyio.IncompleteRead) as exc:
        await _stop(process)
        raise BenchmarkError(f"the {name} server did not start (see its stderr above)") from exc
    word, _, port = line.partition(" ")
    if word != _READY or not port.isdigit():
        await _stop(process)
        raise BenchmarkError(f"the {name} server announced {line!r} instead of its port")
    server.url = f"http://127.0.0.1:{port}"
    return server


async def _stop(process: Process) -> None:
    if process.returncode is None:
        process.terminate()
        with anyio.move_on_after(_STOP_TIMEOUT):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    await process.aclose()


def _prepare(workdir: Path) -> tuple[Path, str]:
    """Write the bridge config and tool module, mint the bench token in a fresh store."""
    from vaults.store import Store

    config = workdir / "bridge.toml"
    config.write_text(_BRIDGE_TOML)
    (workdir / "bench_echo.py").write_text(_TOOL_MODULE)
    with Store.open(Path(os.environ["MCP_VAULT_DIR"])) as store:
        token = store.add_token(TOKEN_NAME).token
    return config, token


@contextlib.contextmanager
def _throwaway_vault(store_dir: Path) -> Iterator[dict[str, str]]:
    """Point this process (for the duration) and the servers' environment at ``store_dir``."""
    isolated = {
        "MCP_VAULT_DIR": str(store_dir),
        "PYTHON_KEYRING_BACKEND": "vaults.backend.EncryptedKeyring",
    }
    saved = {name: os.environ.get(name) for name in isolated}
    os.environ.update(isolated)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_BRIDGE_")}
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def measure(
    *,
    calls: int,
    rounds: int,
    warmup: int,
    concurrencies: Sequence[int],
    transports: Sequence[Transport],
    log_level: str = "warning",
) -> list[Row]:
    """Run the whole benchmark in a throwaway vault; one ``Row`` per server, transport and c."""
    rounds = max(1, min(rounds, calls))
    with (
        tempfile.TemporaryDirectory(prefix="echo-bench-") as tmp,
        _throwaway_vault(Path(tmp) / "vault") as env,
    ):
        config, token = _prepare(Path(tmp))
        servers: dict[str, _Server] = {}
        try:
            async with anyio.create_task_group() as tg:

                async def start(name: str, args: Sequence[str]) -> None:
                    servers[name] = await _start(name, args, env)

                tg.start_soon(start, "bridge", ["--config", str(config), "--log-level", log_level])
                tg.start_soon(start, "bare", ["--log-level", log_level])
            return await _measure(servers, token, calls, rounds, warmup, concurrencies, transports)
        finally:
            with anyio.CancelScope(shield=True):
                for server in servers.values():
                    await _stop(server.process)


async def _measure(
    servers: dict[str, _Server],
    token: str,
    calls: int,
    rounds: int,
    warmup: int,
    concurrencies: Sequence[int],
    transports: Sequence[Transport],
) -> list[Row]:
    rows: list[Row] = []
    for concurrency in concurrencies:
        per_worker_warmup = max(1, warmup // concurrency)
        for transport in transports:
            by_server = {name: Row(name, transport, concurrency) for name in SERVERS}
            for server in servers.values():  # first contact: imports, caches, connection pools
                await _block(server, transport, token, 1, warmup, 0)
            for index in range(rounds):
                share = calls // rounds + (index < calls % rounds)
                order = SERVERS if index % 2 == 0 else SERVERS[::-1]
                for name in order:
                    block = await _block(
                        servers[name], transport, token, concurrency, per_worker_warmup, share
                    )
                    by_server[name].add(block)
            rows += by_server.values()
    return rows


# --- the report ------------------------------------------------------------------------------


def _percent(new: float, old: float) -> str:
    if old == 0:
        return "n/a"
    return f"{(new - old) / old * 100:+.1f}%"


def render(rows: Sequence[Row], calls: int, rounds: int) -> str:
    """The result table: one line per server, then the bridge's overhead per transport."""
    loop = "uvloop" if _installed("uvloop") else "asyncio"
    http = "httptools" if _installed("httptools") else "h11"
    lines = [
        f"echo tool call latency: bridge vs bare MCPServer ({calls} calls per row in "
        f"{rounds} interleaved blocks)",
        f"python {platform.python_version()}, mcp {metadata.version('mcp')}, "
        f"uvicorn {metadata.version('uvicorn')} ({loop}, {http}), {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.machine()}",
        "server/client CPU = process CPU time per call (server: its own subprocess)",
        "",
    ]
    header = (
        f"{'transport':<16} {'server':<7} {'c':>2} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'calls/s':>8} {'srv CPU us':>10} {'cli CPU us':>10}"
    )
    lines += [header, "-" * len(header)]
    groups: dict[tuple[str, int], dict[str, Row]] = {}
    for row in rows:
        groups.setdefault((row.transport.label, row.concurrency), {})[row.server] = row
    for (label, concurrency), pair in groups.items():
        for name in SERVERS:
            row = pair[name]
            lines.append(
                f"{label:<16} {name:<7} {concurrency:>2} {row.percentile(50):>7.2f} "
                f"{row.percentile(90):>7.2f} {row.percentile(99):>7.2f} {row.rate:>8,.0f} "
                f"{row.server_us_per_call:>10,.0f} {row.client_us_per_call:>10,.0f}"
            )
        bridge, bare = pair["bridge"], pair["bare"]
        lines.append(
            f"{'  bridge overhead':<27} "
            + " ".join(
                f"{_percent(bridge.percentile(p), bare.percentile(p)):>7}" for p in (50, 90, 99)
            )
            + f" {_percent(bridge.rate, bare.rate):>8}"
            f" {_percent(bridge.server_us_per_call, bare.server_us_per_call):>10}"
            f" {_percent(bridge.client_us_per_call, bare.client_us_per_call):>10}"
        )
    return "\n".join(lines)


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--calls", default=2000, show_default=True, type=click.IntRange(min=1),
              help="Timed calls per server, transport and concurrency.")  # fmt: skip
@click.option("--concurrency", "concurrencies", multiple=True, type=click.IntRange(1, 64),
              help="Concurrent clients (repeatable). [default: 1]")  # fmt: skip
@click.option("--transport", "transports", multiple=True, type=click.Choice(list(TRANSPORTS)),
              help=f"Repeatable. [default: {', '.join(DEFAULT_TRANSPORTS)}]")  # fmt: skip
@click.option("--rounds", default=6, show_default=True, type=click.IntRange(min=1),
              help="Interleaved blocks per server, transport and concurrency.")  # fmt: skip
@click.option("--warmup", default=30, show_default=True, type=click.IntRange(min=0),
              help="Untimed calls before each block (split over the clients).")  # fmt: skip
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="Servers' log level (info adds a log line per call or request).")  # fmt: skip
@click.option("--serve", type=click.Choice(SERVERS), hidden=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path), hidden=True)
def cli(
    calls: int,
    concurrencies: tuple[int, ...],
    transports: tuple[str, ...],
    rounds: int,
    warmup: int,
    log_level: str,
    serve: str | None,
    config_path: Path | None,
) -> None:
    """Measure echo-call latency through the bridge next to a bare MCPServer, in one run."""
    if serve is not None:
        _serve(serve, config_path, log_level)
        return
    chosen = [TRANSPORTS[name] for name in dict.fromkeys(transports or DEFAULT_TRANSPORTS)]
    levels = list(dict.fromkeys(concurrencies or (1,)))
    rounds = max(1, min(rounds, calls))
    try:
        rows = anyio.run(
            lambda: measure(
                calls=calls,
                rounds=rounds,
                warmup=warmup,
                concurrencies=levels,
                transports=chosen,
                log_level=log_level,
            )
        )
    except Exception as exc:
        cause = _expected(exc)
        if cause is None:
            raise
        raise click.ClickException(f"{type(cause).__name__}: {cause}") from exc
    click.echo(render(rows, calls, rounds))


def _expected(exc: BaseException) -> BaseException | None:
    """The first failure worth one line (not a traceback), also inside exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _expected(inner)) is not None:
                return found
        return None
    expected = (BenchmarkError, MCPError, httpx2.HTTPError, OSError, TimeoutError)
    return exc if isinstance(exc, expected) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark with ``argv`` (default: the process arguments); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name=_PROG, standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f"{_PROG}: error: {exc.format_message()} (see --help)", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"{_PROG}: error: {exc.format_message()}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
