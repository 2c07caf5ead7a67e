"""The Host header a served bridge accepts: its own port on loopback, its public URL's host."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.bridge.conftest import RunningBridge
from tests.support.output import Lines
from vaults.store import Store

pytestmark = pytest.mark.anyio

StartBridge = Callable[..., RunningBridge]
CLIENT = {"name": "host-probe", "version": "0"}
HELLO = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": HELLO}
WRONG_PORT = 9999


def _statuses(url: str, token: str, hosts: list[str]) -> dict[str, int]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
    }
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        return {
            host: http.post("/mcp", json=INITIALIZE, headers={"Host": host}).status_code
            for host in hosts
        }


def test_loopback_is_allowed_on_the_served_port_only(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    port = int(bridge.url.rsplit(":", 1)[1])
    assert port != WRONG_PORT

    statuses = _statuses(
        bridge.url,
        bridge.token,
        [f"{host}:{p}" for p in (port, WRONG_PORT) for host in ("127.0.0.1", "localhost", "[::1]")],
    )

    assert statuses == {
        f"127.0.0.1:{port}": 200,
        f"localhost:{port}": 200,
        f"[::1]:{port}": 200,
        f"127.0.0.1:{WRONG_PORT}": 421,
        f"localhost:{WRONG_PORT}": 421,
        f"[::1]:{WRONG_PORT}": 421,
    }


def test_the_public_urls_host_and_port_stay_allowed(start_bridge: StartBridge) -> None:
    bridge = start_bridge(public_url="https://bridge.example.com/mcp")

    statuses = _statuses(
        bridge.url,
        bridge.token,
        ["bridge.example.com", "bridge.example.com:443", "bridge.example.com:8443"],
    )

    assert statuses == {
        "bridge.example.com": 200,
        "bridge.example.com:443": 200,
        "bridge.example.com:8443": 421,
    }


def test_serve_on_port_0_allows_the_port_it_got(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[server]\nname = "hosts"\n')
    with Store.open() as store:
        store.init()
        token = store.add_token("agents").token
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        url = lines.until(r"Streamable HTTP: (\S+)/mcp").group(1)
        public = lines.until(r"public URL: +(\S+)").group(1)
        lines.until(r"Application startup complete")
        port = int(url.rsplit(":", 1)[1])

        statuses = _statuses(url, token, [f"127.0.0.1:{port}", f"127.0.0.1:{WRONG_PORT}"])
    finally:
        proc.terminate()
        proc.wait(15)

    assert public == f"http://127.0.0.1:{port}/mcp"
    assert statuses == {f"127.0.0.1:{port}": 200, f"127.0.0.1:{WRONG_PORT}": 421}
