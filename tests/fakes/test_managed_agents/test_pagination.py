"""List pages: the SDK's auto-pagination over the fake's cursors, both ways for sessions."""

from __future__ import annotations

import anthropic
import pytest

from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import (
    Client,
    make_agent,
)


def test_lists_auto_paginate_with_limit(fake_api: RunningFake, anthropic_client: Client) -> None:
    made = [anthropic_client.beta.vaults.create(display_name=f"v{i}").id for i in range(25)]

    seen = [vault.id for vault in anthropic_client.beta.vaults.list(limit=10)]

    assert seen == list(reversed(made))
    gets = [r for r in fake_api.state.requests if (r.method, r.path) == ("GET", "/v1/vaults")]
    assert len(gets) == 3


def test_sessions_page_both_ways(anthropic_client: Client) -> None:
    agent = make_agent(anthropic_client)
    environment = anthropic_client.beta.environments.create(name="paging")
    made = [
        anthropic_client.beta.sessions.create(agent=agent.id, environment_id=environment.id).id
        for _ in range(5)
    ]

    first = anthropic_client.beta.sessions.list(limit=2, order="asc")
    assert first.next_page is not None
    second = anthropic_client.beta.sessions.list(limit=2, order="asc", page=first.next_page)
    assert second.prev_page is not None
    back = anthropic_client.beta.sessions.list(limit=2, order="asc", page=second.prev_page)

    assert first.prev_page is None
    assert [s.id for s in first.data] == made[:2]
    assert [s.id for s in second.data] == made[2:4]
    assert [s.id for s in back.data] == made[:2]
    with pytest.raises(anthropic.BadRequestError, match="order=asc"):
        anthropic_client.beta.sessions.list(limit=2, order="desc", page=first.next_page)
