"""Several ``mcp-bridge serve`` replicas on one PostgreSQL store, and a round-robin proxy in front.

Each replica is a real process with its own store directory (as on its own host); they share the
database (``[store] database_url`` in their config) and the data key (``MCP_VAULT_DATA_KEY``, a
file). The proxy is a TCP load balancer in the test's event loop: each connection goes to the
next replica, skipping one that refuses (a dead backend), with no stickiness; clients open a
connection per request, so requests alternate.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
import pytest
from anyio.abc import SocketStream
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.bridge.conftest import TOOLBOX
from tests.support.output import Lines
from vaults.cipher import create_key_file
from vaults.store import Store

CRM_KEY = "crm-value-for-the-fleet"
CONFIG = """
[server]
name = "fleet"
public_url = "{public_url}"

[store]
database_url = "{database_url}"

[[tools.python]]
module = "bridge_test_tools"
{extra}"""


@dataclass
class Replica:
    proc: subprocess.Popen[str]
    url: str
    lines: Lines

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def calls(self) -> int:
        """Tool calls this replica answered so far (its /metrics)."""
        text = httpx2.get(self.url.removesuffix("/mcp") + "/metrics", timeout=5).text
        found = re.findall(r'^bridge_tool_calls_total\{[^}]*outcome="ok"[^}]*\} (\S+)$', text, re.M)
        return int(sum(float(value) for value in found))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@dataclass
class Fleet:
    database_url: str
    env: dict[str, str]
    token: str
    workdir: Path
    proxy_port: int
    replicas: list[Replica] = field(default_factory=list)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}/mcp"

    def vault(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """``mcp-vault ARGS`` against the fleet's database, as an operator on a third host."""
        env = {**self.env, "MCP_VAULT_DATABASE_URL": self.database_url,
               "MCP_VAULT_DIR": str(self.workdir / "operator")}  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "vaults.cli", *args], input=input, capture_output=True,
            text=True, env=env, timeout=60, check=False,
        )  # fmt: skip

    def start(self, extra: str = "") -> Replica:
        index = len(self.replicas)
        workdir = self.workdir / f"replica{index}"
        workdir.mkdir()
        (workdir / "bridge_test_tools.py").write_text(
            (TOOLBOX / "bridge_test_tools.py").read_text()
        )
        config = workdir / "bridge.toml"
        config.write_text(
            CONFIG.format(public_url=self.proxy_url, database_url=self.database_url, extra=extra)
        )
        env = {**self.env, "MCP_VAULT_DIR": str(workdir / "vault")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "serve", "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        try:
            url = lines.until(r"Streamable HTTP: (\S+)").group(1)
            lines.until(r"Application startup complete")
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        replica = Replica(proc, url, lines)
        self.replicas.append(replica)
        return replica

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.proc.poll() is None:
                replica.proc.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            try:
                replica.proc.wait(15)
            except subprocess.TimeoutExpired:
                replica.proc.kill()
                replica.proc.wait()


@contextlib.contextmanager
def fleet(
    workdir: Path, database_url: str, proxy_port: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Fleet]:
    """A store in ``database_url`` with a token ``agents``; replicas are added by ``start``."""
    key = workdir / "data.key"
    create_key_file(key)
    monkeypatch.setenv("MCP_VAULT_DATA_KEY", str(key))
    monkeypatch.delenv("MCP_VAULT_DATABASE_URL", raising=False)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    with Store.open(workdir / "admin", database_url=database_url) as store:
        store.init()
        token = store.add_token("agents").token
        store.add_secret("crm-key", CRM_KEY)  # a tool's secret: every replica decrypts it
    running = Fleet(database_url, env, token, workdir, proxy_port)
    try:
        yield running
    finally:
        running.stop()


def new_token(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"mcpb_\S+", token), result.stdout
    return token


async def round_robin(listener: anyio.abc.Listener[SocketStream], fleet: Fleet) -> None:
    """Serve ``listener``: each connection to the next live replica of ``fleet``."""
    turn = itertools.count()

    async def pump(source: SocketStream, sink: SocketStream) -> None:
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError,
                                 anyio.ClosedResourceError):  # fmt: skip
            async for chunk in source:
                await sink.send(chunk)
            await sink.send_eof()

    async def handle(client: SocketStream) -> None:
        async with client:
            upstream = None
            for _ in range(len(fleet.replicas)):
                replica = fleet.replicas[next(turn) % len(fleet.replicas)]
                try:
                    upstream = await anyio.connect_tcp("127.0.0.1", replica.port)
                    break
                except OSError:
                    continue  # a dead backend: the balancer tries the next one
            if upstream is None:
                return
            async with upstream, anyio.create_task_group() as group:
                group.start_soon(pump, client, upstream)
                group.start_soon(pump, upstream, client)

    async with listener:
        await listener.serve(handle)


@contextlib.asynccontextmanager
async def client(url: str, token: str) -> AsyncIterator[Client]:
    """The SDK client in sessionless 2026-07-28 mode, one TCP connection per request."""
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
        limits=httpx2.Limits(max_keepalive_connections=0),
    )
    async with http, Client(streamable_http_client(url, http_client=http), mode="2026-07-28") as c:
        yield c


async def status(url: str, token: str) -> int:
    """The HTTP status of one bare POST to ``/mcp`` with ``token`` (401 when refused)."""
    async with httpx2.AsyncClient(timeout=5) as http:
        response = await http.post(
            url, headers={"Authorization": f"Bearer {token}"},
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )  # fmt: skip
        return response.status_code
