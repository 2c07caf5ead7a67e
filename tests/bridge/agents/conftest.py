"""The agent/session helper's tests: a bridge config, the fake's state, an agent and a session.

Everything runs against the Managed Agents fake through the real SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from mcp.types import Tool, ToolAnnotations

from bridge import agent_spec, ensure_agent, start_session, tool
from bridge.config import BridgeConfig, load_config
from tests.fakes.managed_agents import ManagedAgentsState
from tests.fakes.server import RunningFake

PUBLIC_URL = "https://bridge.example.com/mcp"
MODEL = "claude-opus-4-8"
TURN = 10.0  # seconds: a broken loop fails fast instead of hanging the suite

Client = anthropic.Anthropic
Event = dict[str, Any]
Recording = tuple[Client, list[tuple[str, str, Any]]]


def make_config(
    tmp_path: Path, *, name: str = "inhouse", public_url: str = PUBLIC_URL
) -> BridgeConfig:
    path = tmp_path / "bridge.toml"
    path.write_text(f'[server]\nname = "{name}"\npublic_url = "{public_url}"\n')
    return load_config(path)


def writes(state: ManagedAgentsState, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path}" for r in state.requests[since:] if r.method != "GET"]


def mcp_tool(name: str, *, read_only: bool = False, destructive: bool | None = None) -> Tool:
    hints = ToolAnnotations(read_only_hint=read_only, destructive_hint=destructive)
    return Tool(name=name, input_schema={"type": "object"}, annotations=hints)


def vault_with(client: Client, *urls: str, name: str = "team") -> str:
    vault = client.beta.vaults.create(display_name=name)
    for url in urls:
        client.beta.vaults.credentials.create(
            vault.id, auth={"type": "static_bearer", "mcp_server_url": url, "token": "secret-1"}
        )
    return vault.id


def environment(client: Client, name: str = "bridge-tests") -> str:
    return client.beta.environments.create(name=name).id


def sent(state: ManagedAgentsState, session_id: str, kind: str) -> list[Event]:
    return [e for e in state.events(session_id) if e["type"] == kind]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def config(tmp_path: Path) -> BridgeConfig:
    return make_config(tmp_path)


@pytest.fixture
def state(fake_api: RunningFake) -> ManagedAgentsState:
    return fake_api.state


@pytest.fixture
def recording(fake_api: RunningFake) -> Iterator[Recording]:
    """The SDK with an httpx request hook that records (method, path, JSON body) of each call."""
    seen: list[tuple[str, str, Any]] = []

    def record(request: httpx2.Request) -> None:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))

    http = httpx2.Client(event_hooks={"request": [record]})
    with anthropic.Anthropic(
        base_url=fake_api.base_url,
        api_key=fake_api.api_key,
        max_retries=0,
        http_client=http,
        _strict_response_validation=True,
    ) as client:
        yield client, seen


@pytest.fixture
def agent(anthropic_client: Client, config: BridgeConfig) -> Any:
    return ensure_agent(anthropic_client, agent_spec(config, name="helper", model=MODEL))


@pytest.fixture
def session_id(anthropic_client: Client, config: BridgeConfig) -> str:
    """A session of an agent with the bridge and the custom tool ``add``, credential in place."""
    spec = agent_spec(config, name="helper", model=MODEL, custom_tools=[add])
    session = start_session(
        anthropic_client,
        ensure_agent(anthropic_client, spec),
        environment_id=environment(anthropic_client),
        vault_ids=[vault_with(anthropic_client, PUBLIC_URL)],
    )
    return session.id
