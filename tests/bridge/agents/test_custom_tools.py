"""Custom tools: declared from Python functions, answered in this process as the bridge would."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from bridge import AgentError, Secrets, agent_spec, ensure_agent, run_session, tool
from bridge.config import BridgeConfig
from tests.bridge.agents.conftest import MODEL, TURN, Client, Event, add, sent, writes
from tests.fakes.managed_agents import (
    ManagedAgentsState,
    agent_custom_tool_use,
    agent_message,
    status_idle_end_turn,
    status_idle_requires_action,
)


@tool(name="lookup-sku", description="Find an item by SKU.", read_only=True)
def lookup(sku: str, limit: int = 3) -> dict[str, Any]:
    if sku == "missing":
        raise ToolError(f"no item {sku}")
    if sku == "crash":
        raise RuntimeError("internal detail that must not reach the agent")
    return {"sku": sku, "limit": limit}


def test_custom_tools_are_declared_from_tool_functions(
    anthropic_client: Client, config: BridgeConfig, state: ManagedAgentsState
) -> None:
    raw = {
        "type": "custom",
        "name": "ping",
        "description": "Ping.",
        "input_schema": {"type": "object", "properties": {}},
    }

    spec = agent_spec(config, name="helper", model=MODEL, custom_tools=[add, lookup, raw])

    agent = ensure_agent(anthropic_client, spec)
    before = len(state.requests)
    again = ensure_agent(anthropic_client, spec)

    customs = {t.name: t for t in agent.tools if t.type == "custom"}
    assert set(customs) == {"add", "lookup-sku", "ping"}
    assert customs["add"].description == "Add two integers."
    assert customs["add"].input_schema.required == ["a", "b"]
    assert set(customs["add"].input_schema.properties or {}) == {"a", "b"}
    assert customs["lookup-sku"].description == "Find an item by SKU."
    assert customs["lookup-sku"].input_schema.required == ["sku"]
    assert again.version == agent.version and writes(state, before) == []


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        pytest.param("needs-secrets", "declares vault secrets", id="needs-secrets"),
        pytest.param("undocumented", "no description", id="undocumented"),
        pytest.param("bad-name", "must be 1-128 letters", id="bad-name"),
    ],
)
def test_a_custom_tool_the_agent_cannot_use_is_refused(
    config: BridgeConfig, bad: str, problem: str
) -> None:
    @tool(secrets=["crm-key"])
    def crm(query: str, secrets: Secrets) -> str:
        """Query the CRM."""
        return secrets["crm-key"]

    def undocumented(x: int) -> int:
        return x

    @tool(name="look up")
    def spaced(x: int) -> int:
        """Look something up."""
        return x

    function = {"needs-secrets": crm, "undocumented": undocumented, "bad-name": spaced}[bad]

    with pytest.raises(AgentError, match=problem):
        agent_spec(config, name="helper", model=MODEL, custom_tools=[function])


def _custom_turn(state: ManagedAgentsState, session_id: str, *calls: tuple[str, Event]) -> None:
    """The agent calls each custom tool, then echoes the results back as its message."""

    def on_message(session: Event, text: str) -> list[Event]:
        uses = [agent_custom_tool_use(name, args) for name, args in calls]
        return [*uses, status_idle_requires_action([u["id"] for u in uses])]

    def on_results(session: Event, responses: list[Event]) -> list[Event]:
        texts = [
            json.dumps([r["is_error"], r.get("content", [{}])[0].get("text")]) for r in responses
        ]
        return [*(agent_message(t) for t in texts), status_idle_end_turn()]

    state.on_user_message(session_id, on_message)
    state.on_tool_response(session_id, on_results)


def test_run_session_answers_custom_tool_use_with_the_local_tool(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    _custom_turn(state, session_id, ("add", {"a": 2, "b": 3}))

    run = run_session(anthropic_client, session_id, "add them", tools=[add], deadline=TURN)

    assert run.text == [json.dumps([False, "5"])]
    (result,) = sent(state, session_id, "user.custom_tool_result")
    (use,) = sent(state, session_id, "agent.custom_tool_use")
    assert result["custom_tool_use_id"] == use["id"]


@pytest.mark.parametrize(
    ("call", "is_error", "check"),
    [
        pytest.param(
            ("lookup-sku", {"sku": "A1"}),
            False,
            lambda text: json.loads(text) == {"sku": "A1", "limit": 3},
            id="ok",
        ),
        pytest.param(
            ("lookup-sku", {"sku": "missing"}),
            True,
            lambda text: text == "Error executing tool lookup-sku: no item missing",
            id="tool-error-reaches-the-agent",
        ),
        pytest.param(
            ("lookup-sku", {"sku": "crash"}),
            True,
            lambda text: text == "Error executing tool lookup-sku",
            id="crash-details-do-not",
        ),
        pytest.param(
            ("lookup-sku", {"limit": 2}),
            True,
            lambda text: (
                text.startswith("Error executing tool lookup-sku:")
                and "sku\n  Field required" in text
            ),
            id="bad-arguments",
        ),
        pytest.param(
            ("nowhere", {}),
            True,
            lambda text: text == "no local tool named 'nowhere' (known: lookup-sku)",
            id="unknown-tool",
        ),
    ],
)
def test_custom_tool_results_follow_the_bridge_rules(
    anthropic_client: Client,
    state: ManagedAgentsState,
    session_id: str,
    call: tuple[str, Event],
    is_error: bool,
    check: Callable[[str], bool],
) -> None:
    _custom_turn(state, session_id, call)

    run = run_session(anthropic_client, session_id, "go", tools=[lookup], deadline=TURN)

    (reply,) = run.text
    sent_error, text = json.loads(reply)
    assert sent_error is is_error
    assert check(text), text


def test_run_session_accepts_a_mapping_of_plain_functions(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    def shout(word: str) -> str:
        return word.upper()

    _custom_turn(state, session_id, ("loud", {"word": "hey"}))

    run = run_session(anthropic_client, session_id, "go", tools={"loud": shout}, deadline=TURN)

    assert run.text == [json.dumps([False, "HEY"])]
