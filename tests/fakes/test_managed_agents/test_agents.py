"""Agents through the SDK: toolset defaults, versions, conflicts, the mcp_servers rules."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import (
    MODEL,
    URL,
    Client,
    make_agent,
)


def test_agent_round_trip_resolves_toolset_defaults(anthropic_client: Client) -> None:
    created = make_agent(
        anthropic_client,
        metadata={"owner": "bridge"},
        tools=[
            {"type": "mcp_toolset", "mcp_server_name": "wiki", "configs": [{"name": "search"}]},
            {"type": "agent_toolset_20260401", "configs": [{"name": "bash", "enabled": False}]},
        ],
    )

    assert created.id.startswith("agent_")
    assert created.version == 1
    mcp, builtin = created.tools
    assert mcp.type == "mcp_toolset"
    assert mcp.default_config.enabled is True
    assert mcp.default_config.permission_policy.type == "always_ask"
    assert [(c.name, c.enabled, c.permission_policy.type) for c in mcp.configs] == [
        ("search", True, "always_ask")
    ]
    assert builtin.type == "agent_toolset_20260401"
    assert builtin.default_config.permission_policy.type == "always_allow"
    assert [(c.name, c.enabled) for c in builtin.configs] == [("bash", False)]
    assert created.model.id == MODEL
    assert created.execution_identity.type == "service_account"
    assert anthropic_client.beta.agents.retrieve(created.id) == created
    assert [agent.id for agent in anthropic_client.beta.agents.list()] == [created.id]


def test_explicit_permission_policy_is_kept(anthropic_client: Client) -> None:
    policy = {"enabled": True, "permission_policy": {"type": "always_allow"}}
    created = make_agent(
        anthropic_client,
        tools=[{"type": "mcp_toolset", "mcp_server_name": "wiki", "default_config": policy}],
    )

    assert created.tools[0].default_config.permission_policy.type == "always_allow"


def test_agent_update_bumps_version_and_keeps_every_version(anthropic_client: Client) -> None:
    agent = make_agent(anthropic_client, system="v1")

    second = anthropic_client.beta.agents.update(agent.id, version=1, system="v2")
    unchanged = anthropic_client.beta.agents.update(agent.id, version=2, system="v2")

    assert (second.version, second.system) == (2, "v2")
    assert unchanged.version == 2
    versions = list(anthropic_client.beta.agents.versions.list(agent.id))
    assert [(v.version, v.system) for v in versions] == [(2, "v2"), (1, "v1")]
    assert anthropic_client.beta.agents.retrieve(agent.id, version=1).system == "v1"
    assert anthropic_client.beta.agents.retrieve(agent.id).system == "v2"


def test_stale_agent_version_is_a_conflict_the_sdk_does_not_retry(fake_api: RunningFake) -> None:
    with anthropic.Anthropic(
        base_url=fake_api.base_url, api_key=fake_api.api_key, _strict_response_validation=True
    ) as client:
        agent = make_agent(client)
        client.beta.agents.update(agent.id, version=1, system="newer")

        with pytest.raises(anthropic.ConflictError, match="version 2") as caught:
            client.beta.agents.update(agent.id, version=1, system="stale")

    assert caught.value.response.headers["x-should-retry"] == "false"
    updates = [r for r in fake_api.state.requests if r.path == f"/v1/agents/{agent.id}"]
    assert len(updates) == 2


def test_agent_update_patches_metadata(anthropic_client: Client) -> None:
    agent = make_agent(anthropic_client, metadata={"a": "1", "b": "2"})

    updated = anthropic_client.beta.agents.update(agent.id, metadata={"a": None, "c": "3"})

    assert updated.metadata == {"b": "2", "c": "3"}
    assert updated.version == 2


def test_agent_update_must_keep_servers_referenced(anthropic_client: Client) -> None:
    agent = make_agent(anthropic_client)
    extra: Any = [
        {"type": "url", "name": "wiki", "url": URL},
        {"type": "url", "name": "other", "url": "https://other.example.com/mcp"},
    ]

    with pytest.raises(anthropic.BadRequestError, match="'other' not referenced"):
        anthropic_client.beta.agents.update(agent.id, mcp_servers=extra)

    updated = anthropic_client.beta.agents.update(
        agent.id,
        mcp_servers=extra,
        tools=[
            {"type": "mcp_toolset", "mcp_server_name": "wiki"},
            {"type": "mcp_toolset", "mcp_server_name": "other"},
        ],
    )
    assert [server.name for server in updated.mcp_servers] == ["wiki", "other"]


SERVER = {"type": "url", "name": "wiki", "url": URL}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"tools": []}, "not referenced", id="unreferenced-server"),
        pytest.param(
            {"tools": [{"type": "mcp_toolset", "mcp_server_name": "nope"}]},
            "not in mcp_servers",
            id="toolset-names-unknown-server",
        ),
        pytest.param(
            {"mcp_servers": [SERVER, SERVER]}, "must be unique", id="duplicate-server-names"
        ),
        pytest.param(
            {
                "mcp_servers": [
                    {"type": "url", "name": f"s{i}", "url": f"https://s{i}.example.com/mcp"}
                    for i in range(21)
                ],
                "tools": [{"type": "mcp_toolset", "mcp_server_name": f"s{i}"} for i in range(21)],
            },
            "at most 20",
            id="too-many-servers",
        ),
        pytest.param(
            {"mcp_servers": [{**SERVER, "url": "wiki.example.com"}]},
            "not an http",
            id="server-url-not-http",
        ),
        pytest.param(
            {"tools": [{"type": "mcp_toolset", "mcp_server_name": "wiki", "auth": "x"}]},
            "Extra inputs are not permitted",
            id="unknown-nested-field",
        ),
        pytest.param({"extra_body": {"colour": "red"}}, "colour", id="unknown-top-level-field"),
        pytest.param({"name": ""}, "name", id="empty-name"),
    ],
)
def test_agent_create_rejects_invalid_config(
    anthropic_client: Client, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=message) as caught:
        make_agent(anthropic_client, **changes)

    assert caught.value.type == "invalid_request_error"


def test_archived_agents_are_listed_only_on_request(anthropic_client: Client) -> None:
    kept = make_agent(anthropic_client, name="kept")
    gone = make_agent(anthropic_client, name="gone")

    archived = anthropic_client.beta.agents.archive(gone.id)

    assert archived.archived_at is not None
    assert [a.id for a in anthropic_client.beta.agents.list()] == [kept.id]
    assert {a.id for a in anthropic_client.beta.agents.list(include_archived=True)} == {
        kept.id,
        gone.id,
    }
    with pytest.raises(anthropic.BadRequestError, match="archived"):
        anthropic_client.beta.agents.update(gone.id, system="again")
