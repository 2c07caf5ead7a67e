"""examples/attach_session.py as a user runs it, against the Managed Agents fake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.fakes.managed_agents import (
    agent_custom_tool_use,
    agent_message,
    status_idle_end_turn,
    status_idle_requires_action,
)
from tests.fakes.server import RunningFake
from vaults.store import Store

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "attach_session.py"
CONFIG = ROOT / "examples" / "bridge.toml"
PUBLIC_URL = "http://127.0.0.1:8765/mcp"  # examples/bridge.toml
STDIO_SERVER = ROOT / "tests" / "bridge" / "backends" / "stdio_server.py"

Event = dict[str, Any]


@pytest.fixture
def token() -> str:
    with Store.open() as store:
        store.init()
        return store.add_token("inhouse-agents").token


def _run(
    fake_api: RunningFake, *args: str, api_key: str | None = None, config: Path = CONFIG
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["ANTHROPIC_API_KEY"] = api_key or fake_api.api_key
    env["ANTHROPIC_BASE_URL"] = fake_api.base_url
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(config), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_example_attaches_a_session_and_prints_the_reply(
    fake_api: RunningFake, anthropic_client: anthropic.Anthropic, token: str
) -> None:
    state = fake_api.state
    environment = anthropic_client.beta.environments.create(name="example").id
    asked: list[str] = []
    use = agent_custom_tool_use("local_time", {"timezone": "Europe/Paris"})

    def on_message(session: Event, text: str) -> list[Event]:
        asked.append(text)
        return [
            agent_message("Let me check the time."),
            use,
            status_idle_requires_action([use["id"]]),
        ]

    def on_result(session: Event, responses: list[Event]) -> list[Event]:
        (result,) = responses
        return [
            agent_message(f"It is {result['content'][0]['text']} in Paris."),
            status_idle_end_turn(),
        ]

    state.on_user_message(None, on_message)
    state.on_tool_response(None, on_result)

    done = _run(
        fake_api,
        "--token", "inhouse-agents",
        "--vault", "example-vault",
        "--environment", environment,
        "--model", "claude-opus-4-8",
        "--message", "What time is it in Paris?",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Let me check the time."
    assert lines[1].startswith("It is 20") and lines[1].endswith("in Paris.")
    assert "+01:00" in lines[1] or "+02:00" in lines[1]
    assert asked == ["What time is it in Paris?"]
    assert token not in done.stdout + done.stderr

    # The platform side: the vault holds the token for the bridge's URL, the session uses it.
    (session,) = anthropic_client.beta.sessions.list()
    (vault_id,) = session.vault_ids
    assert anthropic_client.beta.vaults.retrieve(vault_id).display_name == "example-vault"
    found = state.resolve_credential([vault_id], PUBLIC_URL)
    assert found is not None
    assert state.secret_for(vault_id, found[1]["id"]) == token
    (agent,) = anthropic_client.beta.agents.list()
    assert session.agent.id == agent.id and agent.name == "inhouse-helper"
    assert [(s.name, s.url) for s in agent.mcp_servers] == [("inhouse", PUBLIC_URL)]
    toolset, custom = agent.tools
    assert toolset.type == "mcp_toolset" and custom.type == "custom"
    assert toolset.default_config.permission_policy.type == "always_allow"
    asks = {c.name for c in toolset.configs}
    assert "discontinue_item" in asks  # destructive
    assert not asks & {"get_item", "adjust_stock", "run_tests"}  # read-only, non-destructive
    assert custom.name == "local_time"


def test_the_example_asks_before_the_tools_of_a_proxied_mcp_server(
    fake_api: RunningFake, anthropic_client: anthropic.Anthropic, token: str, tmp_path: Path
) -> None:
    # A proxied server lists its tools only once started: the example starts it to read them.
    record = tmp_path / "record"
    record.mkdir()
    config = tmp_path / "bridge.toml"
    config.write_text(
        f'[server]\nname = "inhouse"\npublic_url = "{PUBLIC_URL}"\n\n'
        f'[[tools.mcp]]\nname = "files"\nprefix = "files_"\n'
        f'command = ["{sys.executable}", "{STDIO_SERVER}", "{record}"]\n'
    )
    environment = anthropic_client.beta.environments.create(name="example").id

    done = _run(
        fake_api,
        "--vault", "example-vault",
        "--environment", environment,
        "--model", "claude-opus-4-8",
        "--message", "hello",
        config=config,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    (agent,) = anthropic_client.beta.agents.list()
    toolset = agent.tools[0]
    assert toolset.type == "mcp_toolset"
    asks = {c.name for c in toolset.configs if c.permission_policy.type == "always_ask"}
    assert {"files_add", "files_echo"} <= asks  # no annotations: MCP's defaults say destructive


def test_the_example_creates_an_environment_when_asked(
    fake_api: RunningFake, anthropic_client: anthropic.Anthropic, token: str
) -> None:
    done = _run(
        fake_api,
        "--vault", "example-vault",
        "--create-environment", "bridge-demo",
        "--model", "claude-opus-4-8",
        "--message", "hello",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    (environment,) = anthropic_client.beta.environments.list()
    assert environment.name == "bridge-demo"
    assert f"--environment {environment.id}" in done.stderr


def test_the_example_fails_in_one_line_with_a_bad_api_key(
    fake_api: RunningFake, anthropic_client: anthropic.Anthropic, token: str
) -> None:
    environment = anthropic_client.beta.environments.create(name="example").id

    done = _run(
        fake_api,
        "--vault", "example-vault",
        "--environment", environment,
        "--model", "claude-opus-4-8",
        "--message", "hello",
        api_key="sk-ant-not-the-key",
    )  # fmt: skip

    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("attach_session: error:") and "401" in line
    assert "sk-ant-not-the-key" not in done.stderr
