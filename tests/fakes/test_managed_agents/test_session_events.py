"""A session's events: the stream, answers checked against what they answer, drops."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from tests.fakes import managed_agents as fake
from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import (
    Client,
    make_session,
    until_idle,
    user_message,
)


def test_stream_delivers_scripted_events(fake_api: RunningFake, anthropic_client: Client) -> None:
    session = make_session(anthropic_client)
    heard: list[tuple[str, str]] = []

    def reply(current: dict[str, Any], text: str) -> list[fake.Event]:
        heard.append((current["id"], text))
        return [fake.agent_message(f"you said {text}"), fake.status_idle_end_turn()]

    fake_api.state.on_user_message(session.id, reply)
    client = anthropic_client.with_options(timeout=10)
    with client.beta.sessions.events.stream(session.id) as stream:
        sent = client.beta.sessions.events.send(session.id, events=[user_message("hello")])
        events = until_idle(stream)

    assert heard == [(session.id, "hello")]
    assert [e.type for e in events] == [
        "user.message",
        "session.status_running",
        "agent.message",
        "session.status_idle",
    ]
    assert sent.data is not None
    assert events[0].id == sent.data[0].id
    assert events[2].content[0].text == "you said hello"
    assert events[3].stop_reason.type == "end_turn"
    assert all(e.id.startswith("sevt_") for e in events)
    listed = list(client.beta.sessions.events.list(session.id))
    assert [e.id for e in listed] == [e.id for e in events]
    only = client.beta.sessions.events.list(session.id, types=["agent.message"])
    assert [e.type for e in only] == ["agent.message"]
    assert client.beta.sessions.retrieve(session.id).status == "idle"


def test_deny_message_needs_a_deny(fake_api: RunningFake, anthropic_client: Client) -> None:
    session = make_session(anthropic_client)
    use = fake.agent_mcp_tool_use("wiki", "delete_page", {})
    fake_api.state.emit(session.id, [use, fake.status_idle_requires_action([use["id"]])])

    def confirm(result: str) -> Any:
        return [
            {
                "type": "user.tool_confirmation",
                "tool_use_id": use["id"],
                "result": result,
                "deny_message": "no",
            }
        ]

    with pytest.raises(anthropic.BadRequestError, match="deny_message"):
        anthropic_client.beta.sessions.events.send(session.id, events=confirm("allow"))
    sent = anthropic_client.beta.sessions.events.send(session.id, events=confirm("deny"))
    assert sent.data is not None
    assert sent.data[0].type == "user.tool_confirmation"


def test_dropped_stream_can_be_reopened_and_reconciled(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = make_session(anthropic_client)
    client = anthropic_client.with_options(timeout=10)
    missed = fake.agent_message("sent while nobody listened")

    with client.beta.sessions.events.stream(session.id) as stream:
        assert fake_api.state.open_streams(session.id) == 1
        fake_api.state.emit(session.id, [fake.agent_message("before the drop")])
        assert fake_api.state.drop_streams(session.id) == 1
        before: list[Any] = list(stream)
    fake_api.state.emit(session.id, [missed])
    with client.beta.sessions.events.stream(session.id) as stream:
        assert fake_api.state.open_streams(session.id) == 1
        fake_api.state.emit(session.id, [fake.status_idle_end_turn()])
        after = until_idle(stream)

    assert [e.content[0].text for e in before] == ["before the drop"]
    assert [e.type for e in after] == ["session.status_idle"]
    listed = [e.id for e in client.beta.sessions.events.list(session.id)]
    assert listed == [before[0].id, missed["id"], after[0].id]


def test_aborted_stream_breaks_the_connection(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = make_session(anthropic_client)
    client = anthropic_client.with_options(timeout=10)

    with client.beta.sessions.events.stream(session.id) as stream:
        assert fake_api.state.open_streams(session.id) == 1
        fake_api.state.drop_streams(session.id, abort=True)
        # The SDK does not wrap errors raised while iterating a stream: callers see httpx2's.
        with pytest.raises(httpx2.RemoteProtocolError):
            list(stream)
