"""start_session: the credential preflight, the session pinned to the agent's version."""

from __future__ import annotations

from typing import Any

import pytest

from bridge import AgentError, MissingCredentialError, start_session
from bridge.agents import resolve_environment
from tests.bridge.agents.conftest import PUBLIC_URL, Client, environment, vault_with, writes
from tests.fakes.managed_agents import ManagedAgentsState


@pytest.mark.parametrize(
    "credential_url",
    [
        PUBLIC_URL,
        "HTTPS://Bridge.Example.COM/mcp",
        "https://bridge.example.com:443/mcp",
        "https://bridge.example.com/mcp/",
    ],
    ids=["same", "case", "default-port", "trailing-slash"],
)
def test_start_session_accepts_a_credential_for_the_same_server(
    anthropic_client: Client, agent: Any, credential_url: str
) -> None:
    vault_id = vault_with(anthropic_client, credential_url)

    session = start_session(
        anthropic_client,
        agent,
        environment_id=environment(anthropic_client),
        vault_ids=[vault_id],
        title="t",
    )

    assert session.vault_ids == [vault_id]
    assert (session.agent.id, session.agent.version) == (agent.id, agent.version)
    assert session.title == "t"


@pytest.mark.parametrize(
    "credential_url",
    [
        "https://bridge.example.com/sse",
        "https://bridge.example.com:8443/mcp",
        "http://bridge.example.com/mcp",
        "https://other.example.com/mcp",
        None,
    ],
    ids=["sse-vs-mcp", "other-port", "other-scheme", "other-host", "empty-vault"],
)
def test_start_session_refuses_without_a_matching_credential(
    anthropic_client: Client, agent: Any, state: ManagedAgentsState, credential_url: str | None
) -> None:
    vault_id = vault_with(anthropic_client, *([credential_url] if credential_url else []))
    environment_id = environment(anthropic_client)

    with pytest.raises(MissingCredentialError) as caught:
        start_session(anthropic_client, agent, environment_id=environment_id, vault_ids=[vault_id])

    error = caught.value
    assert (error.server, error.url, error.vault_ids) == ("inhouse", PUBLIC_URL, [vault_id])
    assert "'inhouse'" in str(error) and PUBLIC_URL in str(error) and vault_id in str(error)
    assert "secret-1" not in str(error)
    assert "POST /v1/sessions" not in writes(state)


def test_start_session_finds_the_credential_in_any_of_the_vaults(
    anthropic_client: Client, agent: Any
) -> None:
    empty = vault_with(anthropic_client, "https://elsewhere.example.com/mcp", name="a")
    holding = vault_with(anthropic_client, PUBLIC_URL, name="b")

    session = start_session(
        anthropic_client,
        agent,
        environment_id=environment(anthropic_client),
        vault_ids=[empty, holding],
    )

    assert session.vault_ids == [empty, holding]


def test_start_session_ignores_archived_and_non_mcp_credentials(
    anthropic_client: Client, agent: Any
) -> None:
    vault_id = vault_with(anthropic_client, PUBLIC_URL)
    (credential,) = anthropic_client.beta.vaults.credentials.list(vault_id)
    anthropic_client.beta.vaults.credentials.archive(credential.id, vault_id=vault_id)
    anthropic_client.beta.vaults.credentials.create(
        vault_id,
        auth={
            "type": "environment_variable",
            "secret_name": "BRIDGE_TOKEN",
            "secret_value": "secret-2",
            "networking": {"type": "unrestricted"},
        },
    )

    with pytest.raises(MissingCredentialError, match="no active credential"):
        start_session(
            anthropic_client,
            agent,
            environment_id=environment(anthropic_client),
            vault_ids=[vault_id],
        )


def test_an_environment_is_found_by_name_or_taken_as_an_id(
    anthropic_client: Client, state: ManagedAgentsState
) -> None:
    wanted = environment(anthropic_client, "wanted")
    environment(anthropic_client, "other")
    before = len(state.requests)

    assert resolve_environment(anthropic_client, "wanted") == wanted
    assert resolve_environment(anthropic_client, "env_given") == "env_given"
    assert [r.path for r in state.requests[before:]] == ["/v1/environments"]


def test_an_unknown_environment_name_says_what_to_pass(anthropic_client: Client) -> None:
    environment(anthropic_client, "other")

    with pytest.raises(AgentError, match="no environment named 'nowhere'; pass its env_ id"):
        resolve_environment(anthropic_client, "nowhere")


def test_a_failed_environment_lookup_keeps_the_status(
    anthropic_client: Client, state: ManagedAgentsState
) -> None:
    state.fail_next("GET", "/v1/environments", 503)

    with pytest.raises(AgentError, match="listing environments failed") as caught:
        resolve_environment(anthropic_client, "wanted")

    assert caught.value.status_code == 503 and caught.value.request_id
