"""The whole path: vault link, agent, session, and the platform (the fake) calling the bridge
with the credential it holds; then a rotation that the platform never notices."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anthropic
import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from bridge.agents import agent_spec, ensure_agent, start_session
from bridge.cli import main as bridge_main
from tests.bridge.conftest import RunningBridge
from tests.fakes.server import RunningFake
from vaults.cli import main as vault_main

pytestmark = pytest.mark.anyio

StartBridge = Callable[..., RunningBridge]
MODEL = "claude-opus-4-8"
STDIO_SERVER = Path(__file__).parent / "backends" / "stdio_server.py"


def _toml(bridge: RunningBridge) -> str:
    return str(bridge.workdir / "bridge.toml")


def _platform_token(
    api: RunningFake, client: anthropic.Anthropic, session_id: str
) -> tuple[str, str]:
    """What the platform does: the credential of the session's vaults for the agent's MCP URL."""
    session = client.beta.sessions.retrieve(session_id)
    [server] = session.agent.mcp_servers
    found = api.state.resolve_credential(list(session.vault_ids), server.url)
    assert found is not None, "the platform would call the bridge without a token"
    vault_id, credential = found
    return server.url, api.state.secret_for(vault_id, credential["id"])


@contextlib.asynccontextmanager
async def _platform_client(url: str, token: str) -> AsyncIterator[Client]:
    """An MCP client over the transport the URL names (…/sse or …/mcp)."""
    headers = {"Authorization": f"Bearer {token}"}
    if url.rstrip("/").endswith("/sse"):
        async with Client(sse_client(url, headers=headers), mode="legacy") as client:
            yield client
        return
    http = httpx2.AsyncClient(headers=headers)
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        yield client


async def _platform_call(url: str, token: str) -> dict[str, Any] | None:
    async with _platform_client(url, token) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "echo" in names
        result = await client.call_tool("echo", {"text": "from the platform"})
        return result.structured_content


async def _status(url: str, token: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            },
        )
        return response.status_code


async def _wait_status(url: str, token: str, status: int, within: float) -> None:
    deadline = time.monotonic() + within
    while (code := await _status(url, token)) != status:
        assert time.monotonic() < deadline, f"still {code} after {within} s"
        await anyio.sleep(0.05)


@pytest.mark.parametrize("path", ["mcp", "sse"])
async def test_the_platform_reaches_the_bridge_with_the_vault_credential_across_a_rotation(
    api: RunningFake,
    anthropic_client: anthropic.Anthropic,
    start_bridge: StartBridge,
    path: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bridge = start_bridge(public_path=path)
    public_url = bridge.config.server.public_url
    assert vault_main(["remote", "link", "agents", "--vault", "team", "--url", public_url]) == 0
    [link] = bridge.store.links("agents")
    environment = anthropic_client.beta.environments.create(name="e2e")
    agent = ensure_agent(anthropic_client, agent_spec(bridge.config, name="e2e-agent", model=MODEL))
    session = start_session(
        anthropic_client, agent, environment_id=environment.id, vault_ids=[link.vault_id]
    )

    url, old = _platform_token(api, anthropic_client, session.id)
    assert url == public_url and old == bridge.token
    assert await _platform_call(url, old) == {"result": "from the platform"}

    capsys.readouterr()
    assert vault_main(["rotate", "agents", "--grace", "2s"]) == 0
    new = capsys.readouterr().out.strip().splitlines()[-1]
    url, held = _platform_token(api, anthropic_client, session.id)
    assert held == new != old
    assert await _platform_call(url, new) == {"result": "from the platform"}
    status_url = f"{bridge.url}/mcp"
    assert await _status(status_url, old) != 401  # inside the grace window
    await _wait_status(status_url, old, 401, within=5.0)
    assert await _platform_call(url, new) == {"result": "from the platform"}


def test_attach_twice_creates_one_agent_and_two_sessions(
    api: RunningFake,
    anthropic_client: anthropic.Anthropic,
    start_bridge: StartBridge,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bridge = start_bridge()
    config = str(bridge.workdir / "bridge.toml")
    public_url = bridge.config.server.public_url
    assert vault_main(["remote", "link", "agents", "--vault", "team", "--url", public_url]) == 0
    environment = anthropic_client.beta.environments.create(name="attach-env")
    argv = [
        "attach", "--config", config, "--agent-name", "inhouse-agent", "--model", MODEL,
        "--environment", environment.name, "--vault", "team", "--json",
    ]  # fmt: skip
    capsys.readouterr()
    runs = []
    for _ in range(2):
        code = bridge_main(argv)
        out, err = capsys.readouterr()
        assert code == 0, err
        runs.append(json.loads(out))
    assert runs[0]["agent_id"] == runs[1]["agent_id"]
    assert runs[0]["agent_version"] == runs[1]["agent_version"]
    assert runs[0]["session_id"] != runs[1]["session_id"]
    agents = [a for a in anthropic_client.beta.agents.list() if a.name == "inhouse-agent"]
    assert len(agents) == 1
    [toolset] = [t for t in agents[0].tools if t.type == "mcp_toolset"]
    assert toolset.default_config.permission_policy.type == "always_allow"
    asks = {c.name for c in toolset.configs if c.permission_policy.type == "always_ask"}
    # MCP's default: a tool not marked read-only (or destructive=False) may be destructive.
    assert "explode" in asks and "add" in asks
    assert "echo" not in asks and "greet" not in asks


def test_attach_refuses_a_vault_without_the_bridges_credential(
    api: RunningFake,
    anthropic_client: anthropic.Anthropic,
    start_bridge: StartBridge,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bridge = start_bridge()
    wrong = bridge.config.server.public_url.replace("/mcp", "/sse")
    assert vault_main(["remote", "link", "agents", "--vault", "team", "--url", wrong]) == 0
    environment = anthropic_client.beta.environments.create(name="env")
    capsys.readouterr()
    code = bridge_main(
        [
            "attach", "--config", str(bridge.workdir / "bridge.toml"), "--agent-name", "a",
            "--model", MODEL, "--environment", environment.id, "--vault", "team",
        ]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 1
    [line] = err.strip().splitlines()
    assert bridge.config.server.public_url in line and "test-bridge" in line
    assert list(anthropic_client.beta.sessions.list()) == []


def test_attach_asks_before_the_tools_of_a_proxied_mcp_server(
    api: RunningFake,
    anthropic_client: anthropic.Anthropic,
    start_bridge: StartBridge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A proxied server lists its tools only once started; attach must start it to read them.
    record = tmp_path / "record"
    record.mkdir()
    bridge = start_bridge(
        f"""
        [[tools.mcp]]
        name = "files"
        command = ["{sys.executable}", "{STDIO_SERVER}", "{record}"]
        prefix = "files_"
        """
    )
    link = ["remote", "link", "agents", "--vault", "team", "--config", _toml(bridge)]
    assert vault_main(link) == 0
    environment = anthropic_client.beta.environments.create(name="env")
    capsys.readouterr()
    code = bridge_main(
        [
            "attach", "--config", _toml(bridge), "--agent-name", "a", "--model", MODEL,
            "--environment", environment.id, "--vault", "team", "--json",
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    agent = anthropic_client.beta.agents.retrieve(json.loads(out)["agent_id"])
    [toolset] = [t for t in agent.tools if t.type == "mcp_toolset"]
    asks = {c.name for c in toolset.configs if c.permission_policy.type == "always_ask"}
    # The stdio server's tools carry no annotations: by MCP's defaults they may destroy.
    assert {"files_add", "files_echo"} <= asks and "echo" not in asks


def test_attach_without_an_api_key_is_one_line(
    api: RunningFake,
    start_bridge: StartBridge,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge = start_bridge()
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    capsys.readouterr()
    code = bridge_main(
        [
            "attach", "--config", _toml(bridge), "--agent-name", "a", "--model", MODEL,
            "--environment", "env", "--vault", "team",
        ]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 1
    [line] = err.strip().splitlines()
    assert "no Anthropic API key" in line and "ANTHROPIC_API_KEY" in line
    assert api.state.requests == []
