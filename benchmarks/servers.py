"""The processes a benchmark run measures: ``mcp-bridge serve``, the bare server, the backends.

Everything runs from a throwaway directory: a vault made with ``mcp-vault`` (``MCP_VAULT_DIR``
and the project's encrypted keyring backend), the bridge config, the echo tool module. The
bridge is started exactly as a user starts it, ``mcp-bridge serve --config ... --port 0`` (its
default log level, so the per-call log line is written), and found by the URL it announces.
Server CPU and memory are read from ``/proc``, so no server needs to cooperate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BACKENDS = ROOT / "tests" / "bridge" / "backends"
BIN = Path(sys.executable).parent
TOKEN = "bench"
REVOKED = "bench-revoke"
SECRET = "inventory-key"
STARTUP_TIMEOUT = 60.0

TOOL_MODULE = '''\
from bridge import tool


@tool
def echo(text: str) -> str:
    """Echo the text back."""
    return text
'''


def bridge_toml(stdio_record: Path, inventory_url: str) -> str:
    return f"""\
[server]
name = "bench"
host = "127.0.0.1"
port = 0

[auth]
tokens = ["{TOKEN}", "{REVOKED}"]

[[tools.python]]
module = "bench_echo"

[[tools.mcp]]
name = "files"
command = ["{sys.executable}", "{BACKENDS / "stdio_server.py"}", "{stdio_record}"]
prefix = "files_"
allow = ["echo"]

[[tools.openapi]]
name = "inventory"
spec = "{inventory_url}/openapi.json"
base_url = "{inventory_url}/api"
bearer = "vault:{SECRET}"
include = ["getItem"]
prefix = "inv_"
"""


class BenchmarkError(Exception):
    """A process did not start or a call did not answer as expected."""


@dataclass
class Server:
    """A running server process and where it listens."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time the process's live threads have used so far (ns, from their schedstat).

        Threads that ended are not counted; a block is far shorter than a worker thread's idle
        life, so within a block nothing is lost.
        """
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise BenchmarkError(f"no VmRSS for the {self.name} server")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def environment(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_BRIDGE_")}
    env.update(
        MCP_VAULT_DIR=str(workdir / "vault"),
        PYTHON_KEYRING_BACKEND="vaults.backend.EncryptedKeyring",
        HOME=str(workdir),
        PYTHONPATH=str(ROOT),
    )
    return env


@dataclass(frozen=True)
class CliRun:
    """One finished ``mcp-vault`` command: its arguments, exit code and output."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str


# Every mcp-vault command run so far, for a look at what each printed (reliability.py).
CLI_RUNS: list[CliRun] = []


async def cli(args: Sequence[str], env: dict[str, str], stdin: str | None = None) -> CliRun:
    """Run ``mcp-vault ARGS`` to its end, whatever its exit code (a SIGKILL is -9)."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "mcp-vault"),
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    assert process.returncode is not None
    done = CliRun(tuple(args), process.returncode, out.decode(), err.decode())
    CLI_RUNS.append(done)
    return done


async def vault(args: Sequence[str], env: dict[str, str], stdin: str | None = None) -> str:
    """Run ``mcp-vault ARGS`` and return its stdout (a token is its last line)."""
    done = await cli(args, env, stdin)
    if done.code != 0:
        raise BenchmarkError(f"mcp-vault {' '.join(args)}: {done.err.strip()}")
    return done.out


async def _ready_line(
    name: str, process: asyncio.subprocess.Process, pattern: str, log: Path | None
) -> int:
    assert process.stdout is not None
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while line := (await process.stdout.readline()).decode():
                if found := re.search(pattern, line):
                    return int(found.group(1))
    except TimeoutError:
        pass
    tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    raise BenchmarkError(f"the {name} server did not start{': ' + tail if tail else ''}")


async def _drain(stream: asyncio.StreamReader | None) -> None:
    # Keeps reading what a server prints after start, so a full pipe never blocks it.
    while stream is not None and await stream.read(65536):
        pass


async def start(
    name: str,
    command: Sequence[str],
    env: dict[str, str],
    pattern: str,
    *,
    stdin: str | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
) -> Server:
    errors: IO[bytes] | int = open(log, "wb") if log is not None else asyncio.subprocess.DEVNULL  # noqa: SIM115
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
    finally:
        if not isinstance(errors, int):
            errors.close()
    assert process.stdin is not None
    if stdin is not None:
        process.stdin.write(stdin.encode() + b"\n")
        await process.stdin.drain()
    try:
        port = await _ready_line(name, process, pattern, log)
    except BaseException:
        server = Server(name, process, 0, log)
        await server.stop()
        raise
    asyncio.get_running_loop().create_task(_drain(process.stdout))
    return Server(name, process, port, log)


async def start_bridge(workdir: Path, env: dict[str, str], config: Path) -> Server:
    """``mcp-bridge serve --config CONFIG --port 0`` in ``workdir``, its log in ``bridge.log``."""
    return await start(
        "bridge",
        [str(BIN / "mcp-bridge"), "serve", "--config", str(config), "--port", "0"],
        env,
        r"Streamable HTTP: http://127\.0\.0\.1:(\d+)/mcp",
        log=workdir / "bridge.log",
        cwd=workdir,
    )


async def ready(server: Server, timeout: float = STARTUP_TIMEOUT) -> None:
    """Wait until the bridge's ``/readyz`` says 200."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            response = await http.get(f"http://127.0.0.1:{server.port}/readyz")
            if response.status_code == 200:
                return
            if time.monotonic() > deadline:
                raise BenchmarkError(f"the bridge never became ready: {response.text}")
            await asyncio.sleep(0.05)


@dataclass
class Fleet:
    """Everything one run needs: the bridge, the bare server, the backends, the bare MCPServer
    that proxies them (``bare_proxy.py``), the raw proxy of the stdio server (``raw_proxy.py``),
    the tokens."""

    workdir: Path
    env: dict[str, str]
    bridge: Server
    bare: Server
    inventory: Server
    bare_proxy: Server
    raw_proxy: Server
    token: str
    revoke_token: str
    inventory_secret: str
    stdio_record: Path


@contextlib.asynccontextmanager
async def fleet(workdir: Path) -> AsyncIterator[Fleet]:
    """Make the vault and config in ``workdir`` and start every server; stop them after."""
    env = environment(workdir)
    await vault(["init"], env)
    token = (await vault(["add", TOKEN, "--kind", "token"], env)).strip().splitlines()[-1]
    revoke_token = (await vault(["add", REVOKED, "--kind", "token"], env)).strip().splitlines()[-1]
    secret = "inventory-" + os.urandom(8).hex()
    await vault(["add", SECRET, "--kind", "secret"], env, stdin=secret)
    record = workdir / "stdio-record"
    record.mkdir()
    started: list[Server] = []
    try:
        inventory = await start(
            "inventory",
            [sys.executable, str(HERE / "backend_server.py")],
            env,
            r"^ready (\d+)",
            stdin=secret,
            log=workdir / "inventory.log",
        )
        started.append(inventory)
        (workdir / "bench_echo.py").write_text(TOOL_MODULE)
        config = workdir / "bridge.toml"
        config.write_text(bridge_toml(record, f"http://127.0.0.1:{inventory.port}"))
        pair = await asyncio.gather(
            start_bridge(workdir, env, config),
            start(
                "bare",
                [sys.executable, str(HERE / "bare_server.py")],
                env,
                r"^ready (\d+)",
                stdin=token,
                log=workdir / "bare.log",
            ),
            return_exceptions=True,
        )
        started += [server for server in pair if isinstance(server, Server)]
        for failed in pair:
            if isinstance(failed, BaseException):
                raise failed
        bridge, bare = pair
        assert isinstance(bridge, Server) and isinstance(bare, Server)
        bare_proxy = await start(
            "bare-proxy",
            [
                sys.executable, str(HERE / "bare_proxy.py"), str(BACKENDS / "stdio_server.py"),
                str(record), f"http://127.0.0.1:{inventory.port}",
            ],
            env,
            r"^ready (\d+)",
            stdin=f"{token}\n{secret}",
            log=workdir / "bare-proxy.log",
        )  # fmt: skip
        started.append(bare_proxy)
        raw_proxy = await start(
            "raw-proxy",
            [sys.executable, str(HERE / "raw_proxy.py"), str(BACKENDS / "stdio_server.py"),
             str(record)],
            env,
            r"^ready (\d+)",
            log=workdir / "raw-proxy.log",
        )  # fmt: skip
        started.append(raw_proxy)
        yield Fleet(
            workdir, env, bridge, bare, inventory, bare_proxy, raw_proxy, token, revoke_token,
            secret, record,
        )  # fmt: skip
    finally:
        await asyncio.gather(*(server.stop() for server in started))
