"""Sessions: pinned agent versions, overrides, the environment and vault rules."""

from __future__ import annotations

import anthropic
import pytest
from anthropic.types.beta.beta_environment_archived_error import BetaEnvironmentArchivedError
from anthropic.types.beta.beta_environment_not_found_error import BetaEnvironmentNotFoundError

from tests.fakes.test_managed_agents.helpers import (
    Client,
    make_agent,
    make_session,
    user_message,
)


def test_session_round_trip_pins_the_agent_version(anthropic_client: Client) -> None:
    agent = make_agent(anthropic_client, system="v1")
    environment = anthropic_client.beta.environments.create(name="e")
    vault = anthropic_client.beta.vaults.create(display_name="v")

    session = anthropic_client.beta.sessions.create(
        agent=agent.id,
        environment_id=environment.id,
        vault_ids=[vault.id],
        title="t",
        metadata={"k": "v"},
    )
    anthropic_client.beta.agents.update(agent.id, system="v2")

    assert session.id.startswith("sesn_")
    assert session.status == "idle"
    assert session.vault_ids == [vault.id]
    retrieved = anthropic_client.beta.sessions.retrieve(session.id)
    assert (retrieved.agent.version, retrieved.agent.system) == (1, "v1")
    assert retrieved.agent.tools == agent.tools
    updated = anthropic_client.beta.sessions.update(session.id, title="t2", metadata={"k": None})
    assert (updated.title, updated.metadata) == ("t2", {})
    listed = anthropic_client.beta.sessions.list(agent_id=agent.id, agent_version=1)
    assert [s.id for s in listed] == [session.id]
    assert list(anthropic_client.beta.sessions.list(statuses=["running"])) == []


def test_session_vaults_cannot_change(anthropic_client: Client) -> None:
    session = make_session(anthropic_client)

    with pytest.raises(anthropic.BadRequestError, match="vault_ids"):
        anthropic_client.beta.sessions.update(session.id, vault_ids=["vlt_other"])


def test_session_on_a_specific_version_with_overrides(anthropic_client: Client) -> None:
    agent = make_agent(anthropic_client, system="v1")
    anthropic_client.beta.agents.update(agent.id, system="v2")
    environment = anthropic_client.beta.environments.create(name="e")

    pinned = anthropic_client.beta.sessions.create(
        agent={"type": "agent", "id": agent.id, "version": 1}, environment_id=environment.id
    )
    overridden = anthropic_client.beta.sessions.create(
        agent={"type": "agent_with_overrides", "id": agent.id, "system": "override"},
        environment_id=environment.id,
    )

    assert (pinned.agent.version, pinned.agent.system) == (1, "v1")
    assert (overridden.agent.version, overridden.agent.system) == (2, "override")
    assert anthropic_client.beta.agents.retrieve(agent.id).system == "v2"


def test_session_needs_a_live_environment_and_vaults(anthropic_client: Client) -> None:
    agent = make_agent(anthropic_client)
    environment = anthropic_client.beta.environments.create(name="e")

    with pytest.raises(BetaEnvironmentNotFoundError):
        anthropic_client.beta.sessions.create(agent=agent.id, environment_id="env_missing")
    with pytest.raises(anthropic.NotFoundError, match="vlt_missing"):
        anthropic_client.beta.sessions.create(
            agent=agent.id, environment_id=environment.id, vault_ids=["vlt_missing"]
        )
    with pytest.raises(anthropic.NotFoundError, match="agent_missing"):
        anthropic_client.beta.sessions.create(agent="agent_missing", environment_id=environment.id)
    anthropic_client.beta.environments.archive(environment.id)
    with pytest.raises(BetaEnvironmentArchivedError):
        anthropic_client.beta.sessions.create(agent=agent.id, environment_id=environment.id)


def test_session_archive_and_delete(anthropic_client: Client) -> None:
    session = make_session(anthropic_client)

    archived = anthropic_client.beta.sessions.archive(session.id)

    assert archived.archived_at is not None
    assert list(anthropic_client.beta.sessions.list()) == []
    with pytest.raises(anthropic.ConflictError, match="archived"):
        anthropic_client.beta.sessions.events.send(session.id, events=[user_message("hi")])
    deleted = anthropic_client.beta.sessions.delete(session.id)
    assert (deleted.id, deleted.type) == (session.id, "session_deleted")
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.beta.sessions.retrieve(session.id)
