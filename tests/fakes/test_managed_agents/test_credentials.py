"""Credentials: secrets never returned, rotation in place, key uniqueness, the platform's match."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import (
    URL,
    Client,
    add_bearer,
)


def test_credential_secret_is_never_returned(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    token = "tok-very-secret-value"
    vault = anthropic_client.beta.vaults.create(display_name="v")
    credentials = anthropic_client.beta.vaults.credentials.with_raw_response

    created = credentials.create(
        vault.id,
        auth={"type": "static_bearer", "mcp_server_url": URL, "token": token},
        display_name="wiki token",
    )
    credential = created.parse()
    responses: list[Any] = [
        created,
        credentials.retrieve(credential.id, vault_id=vault.id),
        credentials.list(vault.id),
        credentials.update(credential.id, vault_id=vault.id, display_name="renamed"),
    ]

    assert credential.id.startswith("vcrd_")
    assert credential.auth.type == "static_bearer"
    assert credential.auth.mcp_server_url == URL
    for response in responses:
        assert token not in response.text()
        body = response.json()
        assert isinstance(body, dict)
        for item in body.get("data", [body]):
            assert set(item["auth"]) == {"type", "mcp_server_url"}
    assert fake_api.state.secret_for(vault.id, credential.id) == token


def test_credential_update_rotates_the_secret_in_place(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    credential = add_bearer(anthropic_client, vault.id, token="old")

    rotated = anthropic_client.beta.vaults.credentials.update(
        credential.id,
        vault_id=vault.id,
        auth={"type": "static_bearer", "token": "new"},
        metadata={"version": "2"},
    )

    assert rotated.id == credential.id
    assert rotated.metadata == {"version": "2"}
    assert fake_api.state.secret_for(vault.id, credential.id) == "new"


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        pytest.param(
            {"type": "static_bearer", "token": "t", "mcp_server_url": "https://x.example.com"},
            "mcp_server_url is immutable",
            id="url-immutable",
        ),
        pytest.param(
            {"type": "mcp_oauth", "access_token": "t"}, "type cannot change", id="type-fixed"
        ),
        pytest.param({"type": "static_bearer", "colour": "red"}, "colour", id="unknown-field"),
    ],
)
def test_credential_update_rules(
    anthropic_client: Client, auth: dict[str, Any], message: str
) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    credential = add_bearer(anthropic_client, vault.id)

    with pytest.raises(anthropic.BadRequestError, match=message):
        anthropic_client.beta.vaults.credentials.update(
            credential.id,
            vault_id=vault.id,
            auth=auth,  # type: ignore[arg-type]
        )


def test_duplicate_active_url_in_a_vault_is_a_conflict(anthropic_client: Client) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    first = add_bearer(anthropic_client, vault.id, url=URL)

    with pytest.raises(anthropic.ConflictError, match=first.id) as caught:
        add_bearer(anthropic_client, vault.id, url="HTTPS://Wiki.Example.com:443/mcp/")

    assert caught.value.response.headers["x-should-retry"] == "false"
    anthropic_client.beta.vaults.credentials.archive(first.id, vault_id=vault.id)
    second = add_bearer(anthropic_client, vault.id, url=URL)
    other_vault = anthropic_client.beta.vaults.create(display_name="w")
    assert add_bearer(anthropic_client, other_vault.id, url=URL).id != second.id


def test_archived_credential_is_purged_and_hidden(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    credential = add_bearer(anthropic_client, vault.id)

    archived = anthropic_client.beta.vaults.credentials.archive(credential.id, vault_id=vault.id)

    assert archived.archived_at is not None
    assert list(anthropic_client.beta.vaults.credentials.list(vault.id)) == []
    listed = anthropic_client.beta.vaults.credentials.list(vault.id, include_archived=True)
    assert [c.id for c in listed] == [credential.id]
    with pytest.raises(LookupError, match="purged"):
        fake_api.state.secret_for(vault.id, credential.id)
    with pytest.raises(anthropic.BadRequestError, match="archived"):
        anthropic_client.beta.vaults.credentials.update(
            credential.id, vault_id=vault.id, auth={"type": "static_bearer", "token": "t"}
        )
    deleted = anthropic_client.beta.vaults.credentials.delete(credential.id, vault_id=vault.id)
    assert (deleted.id, deleted.type) == (credential.id, "vault_credential_deleted")


def test_a_vault_holds_at_most_twenty_credentials(anthropic_client: Client) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    for i in range(20):
        add_bearer(anthropic_client, vault.id, url=f"https://s{i}.example.com/mcp")

    with pytest.raises(anthropic.BadRequestError, match="20"):
        add_bearer(anthropic_client, vault.id, url="https://one-more.example.com/mcp")


def test_credential_of_another_vault_is_not_found(anthropic_client: Client) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    other = anthropic_client.beta.vaults.create(display_name="w")
    credential = add_bearer(anthropic_client, vault.id)

    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.beta.vaults.credentials.retrieve(credential.id, vault_id=other.id)


def test_oauth_and_environment_variable_credentials_hide_their_secrets(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    oauth = anthropic_client.beta.vaults.credentials.with_raw_response.create(
        vault.id,
        auth={
            "type": "mcp_oauth",
            "mcp_server_url": "https://mcp.example.com/mcp",
            "access_token": "access-secret",
            "refresh": {
                "client_id": "client-1",
                "refresh_token": "refresh-secret",
                "token_endpoint": "https://auth.example.com/token",
                "token_endpoint_auth": {"type": "client_secret_post", "client_secret": "cs"},
            },
        },
    )
    env_var = anthropic_client.beta.vaults.credentials.with_raw_response.create(
        vault.id,
        auth={
            "type": "environment_variable",
            "secret_name": "API_KEY",
            "secret_value": "env-secret",
            "networking": {"type": "limited", "allowed_hosts": ["api.example.com"]},
        },
    )

    for response, secret in ((oauth, "access-secret"), (env_var, "env-secret")):
        assert secret not in response.text()
        assert fake_api.state.secret_for(vault.id, response.parse().id) == secret
    assert "refresh-secret" not in oauth.text()
    oauth_auth: Any = oauth.parse().auth
    env_auth: Any = env_var.parse().auth
    assert oauth_auth.refresh.token_endpoint_auth.type == "client_secret_post"
    assert env_auth.injection_location.header is True


@pytest.mark.parametrize(
    ("candidate", "matches"),
    [
        pytest.param(URL, True, id="same"),
        pytest.param("HTTPS://WIKI.example.COM/mcp", True, id="case-of-scheme-and-host"),
        pytest.param("https://wiki.example.com:443/mcp", True, id="default-port"),
        pytest.param("https://wiki.example.com/mcp/", True, id="trailing-slash"),
        pytest.param("https://wiki.example.com/MCP", False, id="path-case"),
        pytest.param("https://wiki.example.com/sse", False, id="other-path"),
        pytest.param("https://wiki.example.com:8443/mcp", False, id="other-port"),
        pytest.param("https://api.wiki.example.com/mcp", False, id="subdomain"),
        pytest.param("http://wiki.example.com/mcp", False, id="other-scheme"),
    ],
)
def test_resolve_credential_matches_normalised_urls(
    fake_api: RunningFake, anthropic_client: Client, candidate: str, matches: bool
) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    credential = add_bearer(anthropic_client, vault.id)

    found = fake_api.state.resolve_credential([vault.id], candidate)

    assert (found == (vault.id, credential.model_dump(mode="json"))) is matches
    assert (found is None) is not matches


def test_resolve_credential_prefers_the_first_vault_and_skips_archived(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    first = anthropic_client.beta.vaults.create(display_name="first")
    second = anthropic_client.beta.vaults.create(display_name="second")
    in_first = add_bearer(anthropic_client, first.id, token="one")
    in_second = add_bearer(anthropic_client, second.id, token="two")

    assert fake_api.state.resolve_credential([second.id, first.id], URL) == (
        second.id,
        in_second.model_dump(mode="json"),
    )
    assert fake_api.state.resolve_credential(["vlt_unknown", first.id], URL) == (
        first.id,
        in_first.model_dump(mode="json"),
    )
    anthropic_client.beta.vaults.credentials.archive(in_second.id, vault_id=second.id)
    found = fake_api.state.resolve_credential([second.id, first.id], URL)
    assert found is not None
    assert found[0] == first.id
    anthropic_client.beta.vaults.archive(first.id)
    assert fake_api.state.resolve_credential([second.id, first.id], URL) is None
