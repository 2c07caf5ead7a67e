"""run_session: one turn driven to its end, through tool confirmations, drops and deadlines."""

from __future__ import annotations

import threading
import time
from typing import Any

import anthropic
import pytest

from bridge import AgentError, agent_spec, ensure_agent, run_session
from bridge.config import BridgeConfig
from tests.bridge.agents.conftest import MODEL, TURN, Client, Event, add, sent
from tests.fakes.managed_agents import (
    ManagedAgentsState,
    agent_custom_tool_use,
    agent_mcp_tool_use,
    agent_message,
    session_error_mcp_auth_failed,
    status_idle_end_turn,
    status_idle_requires_action,
    status_terminated,
)
from tests.fakes.server import RunningFake


def test_run_session_delivers_text_and_stops_at_end_of_turn(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    heard: list[str] = []

    def agent_turn(session: Event, text: str) -> list[Event]:
        heard.append(text)
        return [agent_message("Hello"), agent_message("world"), status_idle_end_turn()]

    state.on_user_message(session_id, agent_turn)
    delivered: list[str] = []

    run = run_session(
        anthropic_client, session_id, "hi there", on_text=delivered.append, deadline=TURN
    )

    assert heard == ["hi there"]
    assert delivered == run.text == ["Hello", "world"]
    assert run.stop_reason == "end_turn" and run.reconnects == 0
    assert len(run.event_ids) == len(set(run.event_ids))


def test_run_session_stops_when_the_session_terminates(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    state.on_user_message(
        session_id,
        lambda session, text: [
            session_error_mcp_auth_failed("inhouse", "bridge said 401"),
            agent_message("bye"),
            status_terminated(),
        ],
    )

    run = run_session(anthropic_client, session_id, "hi", deadline=TURN)

    assert (run.stop_reason, run.text, run.errors) == ("terminated", ["bye"], ["bridge said 401"])


@pytest.mark.parametrize(
    ("confirm", "expected"),
    [
        pytest.param(True, {"get_item": "allow", "delete_item": "allow"}, id="allow-all"),
        pytest.param(False, {"get_item": "deny", "delete_item": "deny"}, id="deny-all"),
        pytest.param(
            lambda use: use.name == "get_item",
            {"get_item": "allow", "delete_item": "deny"},
            id="per-tool",
        ),
    ],
)
def test_run_session_answers_tool_confirmations_per_confirm(
    anthropic_client: Client,
    state: ManagedAgentsState,
    session_id: str,
    confirm: Any,
    expected: dict[str, str],
) -> None:
    uses = [
        agent_mcp_tool_use("inhouse", "get_item", {"sku": "A1"}, permission="ask"),
        agent_mcp_tool_use("inhouse", "delete_item", {"sku": "A1"}, permission="ask"),
        agent_mcp_tool_use("inhouse", "list_items", {}, permission="allow"),
    ]
    state.on_user_message(
        session_id,
        lambda session, text: [
            *uses,
            status_idle_requires_action([u["id"] for u in uses[:2]]),
        ],
    )
    answered: list[Event] = []

    def after_answers(session: Event, responses: list[Event]) -> list[Event]:
        answered.extend(responses)
        return [status_idle_end_turn()]

    state.on_tool_response(session_id, after_answers)

    run = run_session(anthropic_client, session_id, "go", confirm=confirm, deadline=TURN)

    names = {u["id"]: u["name"] for u in uses}
    assert {names[a["tool_use_id"]]: a["result"] for a in answered} == expected
    for answer in answered:
        assert ("deny_message" in answer) == (answer["result"] == "deny")
    assert run.stop_reason == "end_turn"


@pytest.mark.parametrize("abort", [False, True], ids=["clean-close", "abort"])
def test_a_dropped_stream_reconnects_and_handles_each_event_once(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str, abort: bool
) -> None:
    calls: list[tuple[int, int]] = []

    def counted_add(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    use = agent_custom_tool_use("add", {"a": 1, "b": 2})

    def on_message(session: Event, text: str) -> list[Event]:
        state.emit(session_id, [agent_message("one")])
        assert state.drop_streams(session_id, abort=abort) == 1
        return [agent_message("two"), use, status_idle_requires_action([use["id"]])]

    state.on_user_message(session_id, on_message)
    state.on_tool_response(
        session_id, lambda session, responses: [agent_message("three"), status_idle_end_turn()]
    )

    run = run_session(anthropic_client, session_id, "go", tools={"add": counted_add}, deadline=TURN)

    assert run.text == ["one", "two", "three"]
    assert calls == [(1, 2)]
    assert run.reconnects >= 1 and run.stop_reason == "end_turn"
    assert len(run.event_ids) == len(set(run.event_ids))
    assert len(sent(state, session_id, "user.custom_tool_result")) == 1


def test_a_reconnect_in_a_later_turn_skips_earlier_turns(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    state.on_user_message(
        session_id, lambda session, text: [agent_message("first"), status_idle_end_turn()]
    )
    assert run_session(anthropic_client, session_id, "turn 1", deadline=TURN).text == ["first"]

    def second(session: Event, text: str) -> list[Event]:
        state.drop_streams(session_id)
        return [agent_message("second"), status_idle_end_turn()]

    state.on_user_message(session_id, second)

    run = run_session(anthropic_client, session_id, "turn 2", deadline=TURN)

    assert run.text == ["second"] and run.reconnects == 1


def test_the_deadline_raises_agent_error_while_the_agent_is_silent(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    state.on_user_message(session_id, lambda session, text: [])
    started = time.monotonic()

    with pytest.raises(AgentError, match=r"did not finish its turn within 0.5 s"):
        run_session(anthropic_client, session_id, "anyone?", deadline=0.5)

    # The read timeout alone would end the wait seconds later: the watchdog cut it at 0.5 s.
    assert time.monotonic() - started < 2.5


def test_the_deadline_holds_while_events_keep_coming(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    stop = threading.Event()

    def chatter() -> None:
        while not stop.wait(0.05):
            state.emit(session_id, [agent_message(".")])

    state.on_user_message(session_id, lambda session, text: [])
    talker = threading.Thread(target=chatter, daemon=True)
    talker.start()
    try:
        with pytest.raises(AgentError, match="did not finish"):
            run_session(anthropic_client, session_id, "go", deadline=0.5)
    finally:
        stop.set()
        talker.join(5)


def test_a_bad_api_key_becomes_agent_error_with_status_and_request_id(
    fake_api: RunningFake, config: BridgeConfig, session_id: str
) -> None:
    with anthropic.Anthropic(
        base_url=fake_api.base_url, api_key="sk-ant-wrong-key", max_retries=0
    ) as client:
        with pytest.raises(AgentError) as caught:
            run_session(client, session_id, "hi", deadline=TURN)
        with pytest.raises(AgentError) as on_agent:
            ensure_agent(client, agent_spec(config, name="helper", model=MODEL))

    for error in (caught.value, on_agent.value):
        assert error.status_code == 401
        assert error.request_id and error.request_id.startswith("req_")
        assert "ANTHROPIC_API_KEY" in str(error) and "sk-ant-wrong-key" not in str(error)


def test_a_server_error_while_answering_becomes_agent_error(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    use = agent_custom_tool_use("add", {"a": 1, "b": 1})

    def on_message(session: Event, text: str) -> list[Event]:
        # The message went through; the tool result, sent next, gets the 500.
        state.fail_next("POST", f"/v1/sessions/{session_id}/events", 500)
        return [use, status_idle_requires_action([use["id"]])]

    state.on_user_message(session_id, on_message)

    with pytest.raises(AgentError, match="500") as caught:
        run_session(anthropic_client, session_id, "go", tools=[add], deadline=TURN)

    assert caught.value.status_code == 500 and caught.value.request_id
    assert "injected failure" in str(caught.value)
    assert sent(state, session_id, "user.custom_tool_result") == []


def test_a_server_error_on_the_stream_becomes_agent_error(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    state.fail_next("GET", f"/v1/sessions/{session_id}/events/stream", 503)

    with pytest.raises(AgentError, match="503") as caught:
        run_session(anthropic_client, session_id, "go", deadline=TURN)

    assert caught.value.status_code == 503
    assert sent(state, session_id, "user.message") == []
