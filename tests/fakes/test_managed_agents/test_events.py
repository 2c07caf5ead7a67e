"""Scripted events are held to the SDK's models."""

from __future__ import annotations

import pytest

from tests.fakes import managed_agents as fake
from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import (
    Client,
    make_session,
)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"type": "agent.message", "content": "not blocks"}, id="wrong-shape"),
        pytest.param({"type": "agent.telepathy"}, id="unknown-type"),
    ],
)
def test_scripted_events_must_match_the_sdk_models(
    fake_api: RunningFake, anthropic_client: Client, bad: fake.Event
) -> None:
    session = make_session(anthropic_client)

    with pytest.raises(ValueError, match=str(bad["type"])):
        fake_api.state.emit(session.id, [fake.agent_message("fine"), bad])

    assert fake_api.state.events(session.id) == []
