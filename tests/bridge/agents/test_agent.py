"""ensure_agent: the agent is found by its marker, created once, updated only when it differs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from bridge import AgentError, agent_spec, ensure_agent
from bridge.agents import MARKER_KEY, MARKER_VALUE
from bridge.config import BridgeConfig
from tests.bridge.agents.conftest import (
    MODEL,
    PUBLIC_URL,
    Client,
    make_config,
    mcp_tool,
    writes,
)
from tests.fakes.managed_agents import ManagedAgentsState
from tests.fakes.server import RunningFake


def test_ensure_agent_creates_an_agent_declaring_the_bridge(
    anthropic_client: Client, config: BridgeConfig, state: ManagedAgentsState
) -> None:
    agent = ensure_agent(
        anthropic_client, agent_spec(config, name="helper", model=MODEL, system="Be brief.")
    )

    assert agent.version == 1
    assert [s.model_dump() for s in agent.mcp_servers] == [
        {"type": "url", "name": "inhouse", "url": PUBLIC_URL}
    ]
    (toolset,) = agent.tools
    assert toolset.type == "mcp_toolset" and toolset.mcp_server_name == "inhouse"
    assert agent.system == "Be brief."
    assert agent.metadata[MARKER_KEY] == MARKER_VALUE
    assert writes(state) == ["POST /v1/agents"]


def test_ensure_agent_twice_writes_nothing_the_second_time(
    anthropic_client: Client, config: BridgeConfig, state: ManagedAgentsState
) -> None:
    tools = [mcp_tool("get_item", read_only=True), mcp_tool("delete_item")]
    first = ensure_agent(
        anthropic_client, agent_spec(config, name="helper", model=MODEL, tools=tools)
    )
    before = len(state.requests)

    second = ensure_agent(
        anthropic_client, agent_spec(config, name="helper", model=MODEL, tools=tools)
    )

    assert (second.id, second.version) == (first.id, first.version)
    assert writes(state, before) == []
    assert len(anthropic_client.beta.agents.versions.list(first.id).data) == 1


def test_ensure_agent_ignores_agents_it_did_not_make(
    anthropic_client: Client, config: BridgeConfig
) -> None:
    foreign = anthropic_client.beta.agents.create(name="helper", model=MODEL)

    agent = ensure_agent(anthropic_client, agent_spec(config, name="helper", model=MODEL))

    assert agent.id != foreign.id
    assert anthropic_client.beta.agents.retrieve(foreign.id).version == 1


def test_ensure_agent_updates_only_when_the_config_differs(
    recording: tuple[Client, list[tuple[str, str, Any]]], config: BridgeConfig
) -> None:
    client, seen = recording
    agent = ensure_agent(client, agent_spec(config, name="helper", model=MODEL))
    seen.clear()

    updated = ensure_agent(
        client, agent_spec(config, name="helper", model=MODEL, tools=[mcp_tool("delete_item")])
    )

    assert (updated.id, updated.version) == (agent.id, 2)
    writes = [(method, path, body) for method, path, body in seen if method == "POST"]
    assert [(m, p) for m, p, _ in writes] == [("POST", f"/v1/agents/{agent.id}")]
    body = writes[0][2]
    assert body["version"] == 1
    assert body["mcp_servers"] == [{"type": "url", "name": "inhouse", "url": PUBLIC_URL}]
    assert body["tools"][0]["configs"] == [
        {"name": "delete_item", "enabled": True, "permission_policy": {"type": "always_ask"}}
    ]


def test_ensure_agent_follows_a_renamed_server_and_moved_url(
    anthropic_client: Client, tmp_path: Path
) -> None:
    # The fake rejects mcp_servers without a toolset naming each: both must travel together.
    agent = ensure_agent(
        anthropic_client, agent_spec(make_config(tmp_path), name="helper", model=MODEL)
    )
    moved = make_config(tmp_path, name="tools", public_url="https://tools.example.com/sse")

    updated = ensure_agent(anthropic_client, agent_spec(moved, name="helper", model=MODEL))

    assert updated.id == agent.id and updated.version == 2
    assert [(s.name, s.url) for s in updated.mcp_servers] == [
        ("tools", "https://tools.example.com/sse")
    ]
    assert [t.mcp_server_name for t in updated.tools if t.type == "mcp_toolset"] == ["tools"]


@contextlib.contextmanager
def _moving_agent(
    fake_api: RunningFake, mover: Callable[[Client, str], object], times: int
) -> Iterator[tuple[Client, list[str]]]:
    """An SDK client whose agent updates are each preceded by someone else's update."""
    moved: list[str] = []

    with anthropic.Anthropic(base_url=fake_api.base_url, api_key=fake_api.api_key) as other:

        def before_update(request: httpx2.Request) -> None:
            path = request.url.path
            if request.method == "POST" and path.count("/") == 3 and len(moved) < times:
                agent_id = path.rsplit("/", 1)[1]
                mover(other, agent_id)
                moved.append(agent_id)

        with anthropic.Anthropic(
            base_url=fake_api.base_url,
            api_key=fake_api.api_key,
            max_retries=0,
            http_client=httpx2.Client(event_hooks={"request": [before_update]}),
            _strict_response_validation=True,
        ) as client:
            yield client, moved


def test_ensure_agent_rereads_and_retries_once_after_a_stale_version(
    fake_api: RunningFake, anthropic_client: Client, config: BridgeConfig
) -> None:
    agent = ensure_agent(anthropic_client, agent_spec(config, name="helper", model=MODEL))
    before = len(fake_api.state.requests)
    theirs = _moving_agent(
        fake_api, lambda other, id_: other.beta.agents.update(id_, system="x"), 1
    )

    with theirs as (client, moved):
        updated = ensure_agent(client, agent_spec(config, name="helper", model="claude-sonnet-5"))

    assert moved == [agent.id]
    assert updated.version == 3 and updated.model.id == "claude-sonnet-5"
    assert updated.system is None  # the desired config wins over the interleaved write
    calls = [f"{r.method} {r.path}" for r in fake_api.state.requests[before:]]
    assert calls == [
        "GET /v1/agents",
        f"POST /v1/agents/{agent.id}",  # by someone else
        f"POST /v1/agents/{agent.id}",  # 409: stale version 1
        f"GET /v1/agents/{agent.id}",
        f"POST /v1/agents/{agent.id}",
    ]


def test_ensure_agent_stops_when_the_interleaved_write_already_matches(
    fake_api: RunningFake, anthropic_client: Client, config: BridgeConfig
) -> None:
    agent = ensure_agent(anthropic_client, agent_spec(config, name="helper", model=MODEL))
    theirs = _moving_agent(
        fake_api, lambda other, id_: other.beta.agents.update(id_, model="claude-sonnet-5"), 1
    )

    with theirs as (client, _):
        updated = ensure_agent(client, agent_spec(config, name="helper", model="claude-sonnet-5"))

    assert (updated.id, updated.version) == (agent.id, 2)


def test_ensure_agent_gives_up_after_a_second_conflict(
    fake_api: RunningFake, anthropic_client: Client, config: BridgeConfig
) -> None:
    ensure_agent(anthropic_client, agent_spec(config, name="helper", model=MODEL))
    counter = iter(range(100))
    theirs = _moving_agent(
        fake_api, lambda other, id_: other.beta.agents.update(id_, system=f"v{next(counter)}"), 2
    )

    with theirs as (client, moved), pytest.raises(AgentError, match="conflict twice") as caught:
        ensure_agent(client, agent_spec(config, name="helper", model="claude-sonnet-5"))

    assert len(moved) == 2
    assert caught.value.status_code == 409 and caught.value.request_id


def test_a_version_conflict_is_reread_not_resent_even_when_the_server_allows_a_retry(
    fake_api: RunningFake, anthropic_client: Client, config: BridgeConfig
) -> None:
    # The fake marks its 409s `x-should-retry: false`; the real API may not. This one says
    # "retry": resending the same stale version is what ensure_agent must not let the SDK do.
    agent = ensure_agent(anthropic_client, agent_spec(config, name="helper", model=MODEL))
    path = f"/v1/agents/{agent.id}"
    fake_api.state.fail_next("POST", path, 409, headers={"x-should-retry": "true"})
    before = len(fake_api.state.requests)

    with anthropic.Anthropic(
        base_url=fake_api.base_url, api_key=fake_api.api_key, _strict_response_validation=True
    ) as retrying:
        updated = ensure_agent(retrying, agent_spec(config, name="helper", model="claude-sonnet-5"))

    assert updated.version == 2 and updated.model.id == "claude-sonnet-5"
    calls = [f"{r.method} {r.path}" for r in fake_api.state.requests[before:]]
    assert calls == ["GET /v1/agents", f"POST {path}", f"GET {path}", f"POST {path}"]
