"""The bridge's toolset: an explicit default policy, destructive tools ask, overrides win."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import Tool

from bridge import agent_spec, desired_toolset, ensure_agent
from bridge.config import BridgeConfig
from tests.bridge.agents.conftest import MODEL, Client, mcp_tool

ALLOW = {"type": "always_allow"}
ASK = {"type": "always_ask"}


@pytest.mark.parametrize(
    ("kwargs", "default", "configs"),
    [
        pytest.param({}, ALLOW, {"delete_item": ASK, "unmarked": ASK}, id="default-allow"),
        pytest.param(
            {"permission_policy": "always_ask"}, ASK, {}, id="ask-everything-lists-nothing"
        ),
        pytest.param(
            {"permission_policy": "auto"},
            {"type": "auto"},
            {"delete_item": ASK, "unmarked": ASK},
            id="auto",
        ),
        pytest.param(
            {"overrides": {"delete_item": "always_allow", "get_item": "always_ask"}},
            ALLOW,
            {"get_item": ASK, "unmarked": ASK},
            id="overrides-win",
        ),
    ],
)
def test_the_permission_policy_is_explicit(
    kwargs: dict[str, Any], default: dict[str, str], configs: dict[str, dict[str, str]]
) -> None:
    tools = [
        mcp_tool("get_item", read_only=True),
        mcp_tool("add_note", destructive=False),
        mcp_tool("delete_item", destructive=True),
        Tool(name="unmarked", input_schema={"type": "object"}),
    ]

    toolset = desired_toolset("inhouse", tools, **kwargs)

    assert toolset["default_config"] == {"enabled": True, "permission_policy": default}
    assert {c["name"]: c["permission_policy"] for c in toolset["configs"]} == configs


def test_the_agent_never_gets_the_silent_always_ask_default(
    anthropic_client: Client, config: BridgeConfig
) -> None:
    agent = ensure_agent(
        anthropic_client,
        agent_spec(
            config,
            name="helper",
            model=MODEL,
            tools=[mcp_tool("get_item", read_only=True), mcp_tool("drop_table")],
        ),
    )

    (toolset,) = agent.tools
    assert toolset.type == "mcp_toolset"
    assert toolset.default_config.permission_policy.type == "always_allow"
    assert {c.name: c.permission_policy.type for c in toolset.configs} == {
        "drop_table": "always_ask"
    }
