"""The scripted agent side: tool uses wait for their answers, then the script continues."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.fakes import managed_agents as fake
from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import (
    Client,
    make_session,
    until_idle,
    user_message,
)


def test_custom_tool_use_waits_for_its_result(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = make_session(anthropic_client)
    results: list[fake.Event] = []

    def ask_tool(current: dict[str, Any], text: str) -> list[fake.Event]:
        use = fake.agent_custom_tool_use("lookup", {"q": text})
        return [use, fake.status_idle_requires_action([use["id"]])]

    def finish(current: dict[str, Any], responses: list[fake.Event]) -> list[fake.Event]:
        results.extend(responses)
        return [fake.agent_message(responses[0]["content"][0]["text"]), fake.status_idle_end_turn()]

    fake_api.state.on_user_message(None, ask_tool)
    fake_api.state.on_tool_response(None, finish)
    client = anthropic_client.with_options(timeout=10)
    with client.beta.sessions.events.stream(session.id) as stream:
        client.beta.sessions.events.send(session.id, events=[user_message("cats")])
        first = until_idle(stream)
        use = first[2]
        assert (use.type, use.name, use.input) == ("agent.custom_tool_use", "lookup", {"q": "cats"})
        assert first[3].stop_reason.type == "requires_action"
        assert first[3].stop_reason.event_ids == [use.id]
        assert client.beta.sessions.retrieve(session.id).status == "idle"
        client.beta.sessions.events.send(
            session.id,
            events=[
                {
                    "type": "user.custom_tool_result",
                    "custom_tool_use_id": use.id,
                    "content": [{"type": "text", "text": "meow"}],
                }
            ],
        )
        second = until_idle(stream)

    assert [r["custom_tool_use_id"] for r in results] == [use.id]
    assert [e.type for e in second] == [
        "user.custom_tool_result",
        "session.status_running",
        "agent.message",
        "session.status_idle",
    ]
    assert second[2].content[0].text == "meow"
    with pytest.raises(anthropic.BadRequestError, match="already been answered"):
        client.beta.sessions.events.send(
            session.id, events=[{"type": "user.custom_tool_result", "custom_tool_use_id": use.id}]
        )


def test_mcp_tool_confirmation_continues_the_script(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = make_session(anthropic_client)
    use = fake.agent_mcp_tool_use("wiki", "search", {"q": "x"}, permission="ask")
    fake_api.state.on_user_message(
        session.id, lambda current, text: [use, fake.status_idle_requires_action([use["id"]])]
    )
    fake_api.state.on_tool_response(
        session.id,
        lambda current, responses: [
            fake.agent_mcp_tool_result(responses[0]["tool_use_id"], "found"),
            fake.status_idle_end_turn(),
        ],
    )

    anthropic_client.beta.sessions.events.send(session.id, events=[user_message("go")])
    with pytest.raises(anthropic.BadRequestError, match="is not a"):
        anthropic_client.beta.sessions.events.send(
            session.id,
            events=[
                {"type": "user.tool_confirmation", "tool_use_id": "sevt_nope", "result": "allow"}
            ],
        )
    anthropic_client.beta.sessions.events.send(
        session.id,
        events=[{"type": "user.tool_confirmation", "tool_use_id": use["id"], "result": "allow"}],
    )

    events: list[Any] = list(anthropic_client.beta.sessions.events.list(session.id))
    assert [e.type for e in events] == [
        "user.message",
        "session.status_running",
        "agent.mcp_tool_use",
        "session.status_idle",
        "user.tool_confirmation",
        "session.status_running",
        "agent.mcp_tool_result",
        "session.status_idle",
    ]
    assert events[2].evaluated_permission == "ask"
    assert events[6].mcp_tool_use_id == use["id"]


def test_answers_resolve_a_block_together_or_leave_the_rest_pending(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = make_session(anthropic_client)
    uses = [fake.agent_custom_tool_use(name, {}) for name in ("a", "b", "c")]
    batches: list[list[str]] = []
    fake_api.state.on_user_message(
        None,
        lambda current, text: [*uses, fake.status_idle_requires_action([u["id"] for u in uses])],
    )

    def finish(current: dict[str, Any], responses: list[fake.Event]) -> list[fake.Event]:
        batches.append([r["custom_tool_use_id"] for r in responses])
        return [fake.status_idle_end_turn()]

    fake_api.state.on_tool_response(None, finish)
    anthropic_client.beta.sessions.events.send(session.id, events=[user_message("go")])
    mark = len(fake_api.state.events(session.id))

    def answer(*targets: dict[str, Any]) -> Any:
        return [{"type": "user.custom_tool_result", "custom_tool_use_id": t["id"]} for t in targets]

    anthropic_client.beta.sessions.events.send(session.id, events=answer(uses[0]))
    anthropic_client.beta.sessions.events.send(session.id, events=answer(uses[1], uses[2]))

    later = fake_api.state.events(session.id)[mark:]
    assert [e["type"] for e in later] == [
        "user.custom_tool_result",
        "session.status_idle",
        "user.custom_tool_result",
        "user.custom_tool_result",
        "session.status_running",
        "session.status_idle",
    ]
    assert later[1]["stop_reason"] == {
        "type": "requires_action",
        "event_ids": [uses[1]["id"], uses[2]["id"]],
    }
    assert batches == [[u["id"] for u in uses]]


def test_interrupt_ends_the_turn(anthropic_client: Client) -> None:
    session = make_session(anthropic_client)

    anthropic_client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])

    events = list(anthropic_client.beta.sessions.events.list(session.id))
    assert [e.type for e in events] == ["user.interrupt", "session.status_idle"]


def test_without_a_script_the_agent_ends_its_turn(anthropic_client: Client) -> None:
    session = make_session(anthropic_client, initial_events=[user_message("hi")])

    assert session.status == "running"
    events = list(anthropic_client.beta.sessions.events.list(session.id, order="desc"))
    assert [e.type for e in events] == [
        "session.status_idle",
        "session.status_running",
        "user.message",
    ]
    assert anthropic_client.beta.sessions.retrieve(session.id).status == "idle"


def test_a_failing_script_surfaces_as_a_server_error(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = make_session(anthropic_client)

    def broken(current: dict[str, Any], text: str) -> list[fake.Event]:
        raise RuntimeError("script bug")

    fake_api.state.on_user_message(session.id, broken)

    with pytest.raises(anthropic.InternalServerError, match="script bug"):
        anthropic_client.beta.sessions.events.send(session.id, events=[user_message("hi")])
    assert [str(e) for e in fake_api.state.handler_errors] == ["script bug"]
