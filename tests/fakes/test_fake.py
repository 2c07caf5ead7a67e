"""The Managed Agents fake, driven through the real SDK with strict response validation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from anthropic.types.beta.beta_environment_archived_error import BetaEnvironmentArchivedError
from anthropic.types.beta.beta_environment_not_found_error import BetaEnvironmentNotFoundError
from anthropic.types.beta.beta_invalid_config_type_change_error import (
    BetaInvalidConfigTypeChangeError,
)
from anthropic.types.beta.beta_invalid_metadata_error import BetaInvalidMetadataError

from tests.fakes import managed_agents as fake
from tests.fakes.server import RunningFake, serve_fake

URL = "https://wiki.example.com/mcp"
MODEL = "claude-opus-4-8"
Client = anthropic.Anthropic


def _agent(client: Client, **changes: Any) -> Any:
    params: dict[str, Any] = {
        "name": "bridge-agent",
        "model": MODEL,
        "mcp_servers": [{"type": "url", "name": "wiki", "url": URL}],
        "tools": [{"type": "mcp_toolset", "mcp_server_name": "wiki"}],
    }
    params.update(changes)
    return client.beta.agents.create(**params)


def _session(client: Client, **changes: Any) -> Any:
    agent = _agent(client)
    environment = client.beta.environments.create(name=f"env-{fake.new_id('')[:8]}")
    params: dict[str, Any] = {"agent": agent.id, "environment_id": environment.id}
    params.update(changes)
    return client.beta.sessions.create(**params)


def _bearer(client: Client, vault_id: str, url: str = URL, token: str = "tok-1") -> Any:
    return client.beta.vaults.credentials.create(
        vault_id, auth={"type": "static_bearer", "mcp_server_url": url, "token": token}
    )


def _user_message(text: str) -> Any:
    return {"type": "user.message", "content": [{"type": "text", "text": text}]}


def _until_idle(stream: Iterable[Any]) -> list[Any]:
    seen = []
    for event in stream:
        seen.append(event)
        if event.type in ("session.status_idle", "session.status_terminated"):
            return seen
    return seen


def _raw_headers(api_key: str) -> dict[str, str]:
    return {"anthropic-beta": fake.BETA, "x-api-key": api_key}


# --------------------------------------------------------------------------- agents


def test_agent_round_trip_resolves_toolset_defaults(anthropic_client: Client) -> None:
    created = _agent(
        anthropic_client,
        metadata={"owner": "bridge"},
        tools=[
            {"type": "mcp_toolset", "mcp_server_name": "wiki", "configs": [{"name": "search"}]},
            {"type": "agent_toolset_20260401", "configs": [{"name": "bash", "enabled": False}]},
        ],
    )

    assert created.id.startswith("agent_")
    assert created.version == 1
    mcp, builtin = created.tools
    assert mcp.type == "mcp_toolset"
    assert mcp.default_config.enabled is True
    assert mcp.default_config.permission_policy.type == "always_ask"
    assert [(c.name, c.enabled, c.permission_policy.type) for c in mcp.configs] == [
        ("search", True, "always_ask")
    ]
    assert builtin.type == "agent_toolset_20260401"
    assert builtin.default_config.permission_policy.type == "always_allow"
    assert [(c.name, c.enabled) for c in builtin.configs] == [("bash", False)]
    assert created.model.id == MODEL
    assert created.execution_identity.type == "service_account"
    assert anthropic_client.beta.agents.retrieve(created.id) == created
    assert [agent.id for agent in anthropic_client.beta.agents.list()] == [created.id]


def test_explicit_permission_policy_is_kept(anthropic_client: Client) -> None:
    policy = {"enabled": True, "permission_policy": {"type": "always_allow"}}
    created = _agent(
        anthropic_client,
        tools=[{"type": "mcp_toolset", "mcp_server_name": "wiki", "default_config": policy}],
    )

    assert created.tools[0].default_config.permission_policy.type == "always_allow"


def test_agent_update_bumps_version_and_keeps_every_version(anthropic_client: Client) -> None:
    agent = _agent(anthropic_client, system="v1")

    second = anthropic_client.beta.agents.update(agent.id, version=1, system="v2")
    unchanged = anthropic_client.beta.agents.update(agent.id, version=2, system="v2")

    assert (second.version, second.system) == (2, "v2")
    assert unchanged.version == 2
    versions = list(anthropic_client.beta.agents.versions.list(agent.id))
    assert [(v.version, v.system) for v in versions] == [(2, "v2"), (1, "v1")]
    assert anthropic_client.beta.agents.retrieve(agent.id, version=1).system == "v1"
    assert anthropic_client.beta.agents.retrieve(agent.id).system == "v2"


def test_stale_agent_version_is_a_conflict_the_sdk_does_not_retry(fake_api: RunningFake) -> None:
    with anthropic.Anthropic(
        base_url=fake_api.base_url, api_key=fake_api.api_key, _strict_response_validation=True
    ) as client:
        agent = _agent(client)
        client.beta.agents.update(agent.id, version=1, system="newer")

        with pytest.raises(anthropic.ConflictError, match="version 2") as caught:
            client.beta.agents.update(agent.id, version=1, system="stale")

    assert caught.value.response.headers["x-should-retry"] == "false"
    updates = [r for r in fake_api.state.requests if r.path == f"/v1/agents/{agent.id}"]
    assert len(updates) == 2


def test_agent_update_patches_metadata(anthropic_client: Client) -> None:
    agent = _agent(anthropic_client, metadata={"a": "1", "b": "2"})

    updated = anthropic_client.beta.agents.update(agent.id, metadata={"a": None, "c": "3"})

    assert updated.metadata == {"b": "2", "c": "3"}
    assert updated.version == 2


def test_agent_update_must_keep_servers_referenced(anthropic_client: Client) -> None:
    agent = _agent(anthropic_client)
    extra: Any = [
        {"type": "url", "name": "wiki", "url": URL},
        {"type": "url", "name": "other", "url": "https://other.example.com/mcp"},
    ]

    with pytest.raises(anthropic.BadRequestError, match="'other' not referenced"):
        anthropic_client.beta.agents.update(agent.id, mcp_servers=extra)

    updated = anthropic_client.beta.agents.update(
        agent.id,
        mcp_servers=extra,
        tools=[
            {"type": "mcp_toolset", "mcp_server_name": "wiki"},
            {"type": "mcp_toolset", "mcp_server_name": "other"},
        ],
    )
    assert [server.name for server in updated.mcp_servers] == ["wiki", "other"]


SERVER = {"type": "url", "name": "wiki", "url": URL}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"tools": []}, "not referenced", id="unreferenced-server"),
        pytest.param(
            {"tools": [{"type": "mcp_toolset", "mcp_server_name": "nope"}]},
            "not in mcp_servers",
            id="toolset-names-unknown-server",
        ),
        pytest.param(
            {"mcp_servers": [SERVER, SERVER]}, "must be unique", id="duplicate-server-names"
        ),
        pytest.param(
            {
                "mcp_servers": [
                    {"type": "url", "name": f"s{i}", "url": f"https://s{i}.example.com/mcp"}
                    for i in range(21)
                ],
                "tools": [{"type": "mcp_toolset", "mcp_server_name": f"s{i}"} for i in range(21)],
            },
            "at most 20",
            id="too-many-servers",
        ),
        pytest.param(
            {"mcp_servers": [{**SERVER, "url": "wiki.example.com"}]},
            "not an http",
            id="server-url-not-http",
        ),
        pytest.param(
            {"tools": [{"type": "mcp_toolset", "mcp_server_name": "wiki", "auth": "x"}]},
            "Extra inputs are not permitted",
            id="unknown-nested-field",
        ),
        pytest.param({"extra_body": {"colour": "red"}}, "colour", id="unknown-top-level-field"),
        pytest.param({"name": ""}, "name", id="empty-name"),
    ],
)
def test_agent_create_rejects_invalid_config(
    anthropic_client: Client, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=message) as caught:
        _agent(anthropic_client, **changes)

    assert caught.value.type == "invalid_request_error"


def test_archived_agents_are_listed_only_on_request(anthropic_client: Client) -> None:
    kept = _agent(anthropic_client, name="kept")
    gone = _agent(anthropic_client, name="gone")

    archived = anthropic_client.beta.agents.archive(gone.id)

    assert archived.archived_at is not None
    assert [a.id for a in anthropic_client.beta.agents.list()] == [kept.id]
    assert {a.id for a in anthropic_client.beta.agents.list(include_archived=True)} == {
        kept.id,
        gone.id,
    }
    with pytest.raises(anthropic.BadRequestError, match="archived"):
        anthropic_client.beta.agents.update(gone.id, system="again")


# --------------------------------------------------------------------------- transport rules


def test_missing_managed_agents_beta_is_rejected(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.BadRequestError, match=fake.BETA):
        anthropic_client.beta.vaults.list(extra_headers={"anthropic-beta": "files-api-2025-04-14"})


def test_beta_may_come_among_others(anthropic_client: Client) -> None:
    page = anthropic_client.beta.vaults.list(betas=["files-api-2025-04-14"])

    assert page.data == []


def test_wrong_api_key_is_an_authentication_error(fake_api: RunningFake) -> None:
    with (
        anthropic.Anthropic(base_url=fake_api.base_url, api_key="wrong", max_retries=0) as client,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        client.beta.vaults.list()

    assert caught.value.type == "authentication_error"


def test_x_api_key_header_is_accepted_too(fake_api: RunningFake) -> None:
    good = httpx.get(f"{fake_api.base_url}/v1/vaults", headers=_raw_headers(fake_api.api_key))
    bad = httpx.get(f"{fake_api.base_url}/v1/vaults", headers=_raw_headers("nope"))

    assert good.status_code == 200
    assert good.json() == {"data": [], "next_page": None}
    assert bad.status_code == 401


def test_errors_use_the_envelope_and_a_request_id(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client.beta.vaults.retrieve("vlt_missing")

    error = caught.value
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    assert error.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Vault vlt_missing not found"},
        "request_id": error.request_id,
    }


def test_unknown_paths_get_the_envelope(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client.get("/v1/nothing-here", cast_to=object)

    assert caught.value.type == "not_found_error"
    assert caught.value.request_id is not None


def test_missing_required_field_is_rejected(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.BadRequestError, match="display_name: Field required"):
        anthropic_client.post(
            "/v1/vaults",
            cast_to=object,
            body={"metadata": {}},
            options={"headers": {"anthropic-beta": fake.BETA}},
        )


def test_unknown_query_parameter_is_rejected(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.BadRequestError, match="colour"):
        anthropic_client.beta.vaults.list(extra_query={"colour": "red"})


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({f"k{i}": "v" for i in range(17)}, id="17-pairs"),
        pytest.param({"k" * 65: "v"}, id="long-key"),
        pytest.param({"k": "v" * 513}, id="long-value"),
    ],
)
def test_metadata_limits_are_invalid_metadata(
    anthropic_client: Client, metadata: dict[str, str]
) -> None:
    with pytest.raises(BetaInvalidMetadataError) as caught:
        anthropic_client.beta.vaults.create(display_name="v", metadata=metadata)

    assert caught.value.error_code == "invalid_metadata"


def test_metadata_patch_may_not_grow_past_the_limit(anthropic_client: Client) -> None:
    vault = anthropic_client.beta.vaults.create(
        display_name="v", metadata={f"k{i}": "v" for i in range(16)}
    )

    with pytest.raises(BetaInvalidMetadataError):
        anthropic_client.beta.vaults.update(vault.id, metadata={"one-more": "v"})

    replaced = anthropic_client.beta.vaults.update(vault.id, metadata={"k0": None, "new": "v"})
    assert len(replaced.metadata) == 16
    assert "k0" not in replaced.metadata


# --------------------------------------------------------------------------- failure injection


def test_injected_failure_hits_the_next_matching_request_only(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    rule = fake_api.state.fail_next("POST", "/v1/vaults", 500)

    with pytest.raises(anthropic.InternalServerError):
        anthropic_client.beta.vaults.create(display_name="first")
    created = anthropic_client.beta.vaults.create(display_name="second")

    assert rule.remaining == 0
    assert created.display_name == "second"


def test_rate_limit_with_retry_after_is_retried_by_default(fake_api: RunningFake) -> None:
    rule = fake_api.state.fail_next("POST", "/v1/vaults", 429, headers={"retry-after": "0.05"})

    with anthropic.Anthropic(
        base_url=fake_api.base_url, api_key=fake_api.api_key, _strict_response_validation=True
    ) as client:
        vault = client.beta.vaults.create(display_name="after-retry")

    posts = [r for r in fake_api.state.requests if (r.method, r.path) == ("POST", "/v1/vaults")]
    assert len(posts) == 2
    assert rule.remaining == 0
    assert vault.display_name == "after-retry"


def test_injected_failure_can_carry_its_own_body_and_glob(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    body = fake.error_body(401, "key revoked")
    fake_api.state.fail_next("*", "/v1/vaults*", 401, body=body, times=2)

    for _ in range(2):
        with pytest.raises(anthropic.AuthenticationError, match="key revoked"):
            anthropic_client.beta.vaults.list()
    assert anthropic_client.beta.vaults.list().data == []


# --------------------------------------------------------------------------- pagination


def test_lists_auto_paginate_with_limit(fake_api: RunningFake, anthropic_client: Client) -> None:
    made = [anthropic_client.beta.vaults.create(display_name=f"v{i}").id for i in range(25)]

    seen = [vault.id for vault in anthropic_client.beta.vaults.list(limit=10)]

    assert seen == list(reversed(made))
    gets = [r for r in fake_api.state.requests if (r.method, r.path) == ("GET", "/v1/vaults")]
    assert len(gets) == 3


def test_sessions_page_both_ways(anthropic_client: Client) -> None:
    agent = _agent(anthropic_client)
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


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_out_of_range_is_rejected(anthropic_client: Client, limit: int) -> None:
    with pytest.raises(anthropic.BadRequestError, match="limit"):
        anthropic_client.beta.vaults.list(limit=limit)


# --------------------------------------------------------------------------- environments


def test_environment_round_trip(anthropic_client: Client) -> None:
    created = anthropic_client.beta.environments.create(
        name="default",
        metadata={"team": "a", "tier": "b"},
        config={
            "type": "cloud",
            "networking": {"type": "limited", "allowed_hosts": ["api.example.com"]},
        },
    )

    assert created.id.startswith("env_")
    assert created.config.type == "cloud"
    assert created.config.networking.type == "limited"
    assert created.config.networking.allow_mcp_servers is False
    assert created.config.packages.pip == []
    updated = anthropic_client.beta.environments.update(
        created.id,
        metadata={"team": "", "tier": None, "new": "c"},
        config={"type": "cloud", "networking": {"type": "limited", "allow_mcp_servers": True}},
    )
    assert updated.metadata == {"new": "c"}
    networking: Any = updated.config.networking  # type: ignore[union-attr]
    assert networking.allowed_hosts == ["api.example.com"]
    assert networking.allow_mcp_servers is True
    assert anthropic_client.beta.environments.retrieve(created.id) == updated

    with pytest.raises(BetaInvalidConfigTypeChangeError):
        anthropic_client.beta.environments.update(created.id, config={"type": "self_hosted"})
    with pytest.raises(anthropic.ConflictError):
        anthropic_client.beta.environments.create(name="default")

    anthropic_client.beta.environments.archive(created.id)
    assert list(anthropic_client.beta.environments.list()) == []
    assert len(list(anthropic_client.beta.environments.list(include_archived=True))) == 1
    with pytest.raises(BetaEnvironmentArchivedError):
        anthropic_client.beta.environments.update(created.id, name="renamed")
    deleted = anthropic_client.beta.environments.delete(created.id)
    assert (deleted.id, deleted.type) == (created.id, "environment_deleted")
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.beta.environments.retrieve(created.id)


# --------------------------------------------------------------------------- vaults


def test_vault_round_trip(anthropic_client: Client) -> None:
    created = anthropic_client.beta.vaults.create(display_name="alice", metadata={"u": "1"})

    assert created.id.startswith("vlt_")
    renamed = anthropic_client.beta.vaults.update(created.id, display_name="alice-2")
    assert (renamed.display_name, renamed.metadata) == ("alice-2", {"u": "1"})
    assert anthropic_client.beta.vaults.retrieve(created.id) == renamed

    archived = anthropic_client.beta.vaults.archive(created.id)
    assert archived.archived_at is not None
    assert list(anthropic_client.beta.vaults.list()) == []
    assert [v.id for v in anthropic_client.beta.vaults.list(include_archived=True)] == [created.id]

    deleted = anthropic_client.beta.vaults.delete(created.id)
    assert (deleted.id, deleted.type) == (created.id, "vault_deleted")
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.beta.vaults.retrieve(created.id)


# --------------------------------------------------------------------------- credentials


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
    credential = _bearer(anthropic_client, vault.id, token="old")

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
    credential = _bearer(anthropic_client, vault.id)

    with pytest.raises(anthropic.BadRequestError, match=message):
        anthropic_client.beta.vaults.credentials.update(
            credential.id,
            vault_id=vault.id,
            auth=auth,  # type: ignore[arg-type]
        )


def test_duplicate_active_url_in_a_vault_is_a_conflict(anthropic_client: Client) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    first = _bearer(anthropic_client, vault.id, url=URL)

    with pytest.raises(anthropic.ConflictError, match=first.id) as caught:
        _bearer(anthropic_client, vault.id, url="HTTPS://Wiki.Example.com:443/mcp/")

    assert caught.value.response.headers["x-should-retry"] == "false"
    anthropic_client.beta.vaults.credentials.archive(first.id, vault_id=vault.id)
    second = _bearer(anthropic_client, vault.id, url=URL)
    other_vault = anthropic_client.beta.vaults.create(display_name="w")
    assert _bearer(anthropic_client, other_vault.id, url=URL).id != second.id


def test_archived_credential_is_purged_and_hidden(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    credential = _bearer(anthropic_client, vault.id)

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
        _bearer(anthropic_client, vault.id, url=f"https://s{i}.example.com/mcp")

    with pytest.raises(anthropic.BadRequestError, match="20"):
        _bearer(anthropic_client, vault.id, url="https://one-more.example.com/mcp")


def test_credential_of_another_vault_is_not_found(anthropic_client: Client) -> None:
    vault = anthropic_client.beta.vaults.create(display_name="v")
    other = anthropic_client.beta.vaults.create(display_name="w")
    credential = _bearer(anthropic_client, vault.id)

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
    credential = _bearer(anthropic_client, vault.id)

    found = fake_api.state.resolve_credential([vault.id], candidate)

    assert (found == (vault.id, credential.model_dump(mode="json"))) is matches
    assert (found is None) is not matches


def test_resolve_credential_prefers_the_first_vault_and_skips_archived(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    first = anthropic_client.beta.vaults.create(display_name="first")
    second = anthropic_client.beta.vaults.create(display_name="second")
    in_first = _bearer(anthropic_client, first.id, token="one")
    in_second = _bearer(anthropic_client, second.id, token="two")

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


# --------------------------------------------------------------------------- sessions


def test_session_round_trip_pins_the_agent_version(anthropic_client: Client) -> None:
    agent = _agent(anthropic_client, system="v1")
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
    session = _session(anthropic_client)

    with pytest.raises(anthropic.BadRequestError, match="vault_ids"):
        anthropic_client.beta.sessions.update(session.id, vault_ids=["vlt_other"])


def test_session_on_a_specific_version_with_overrides(anthropic_client: Client) -> None:
    agent = _agent(anthropic_client, system="v1")
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
    agent = _agent(anthropic_client)
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
    session = _session(anthropic_client)

    archived = anthropic_client.beta.sessions.archive(session.id)

    assert archived.archived_at is not None
    assert list(anthropic_client.beta.sessions.list()) == []
    with pytest.raises(anthropic.ConflictError, match="archived"):
        anthropic_client.beta.sessions.events.send(session.id, events=[_user_message("hi")])
    deleted = anthropic_client.beta.sessions.delete(session.id)
    assert (deleted.id, deleted.type) == (session.id, "session_deleted")
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.beta.sessions.retrieve(session.id)


# --------------------------------------------------------------------------- events


def test_stream_delivers_scripted_events(fake_api: RunningFake, anthropic_client: Client) -> None:
    session = _session(anthropic_client)
    heard: list[tuple[str, str]] = []

    def reply(current: dict[str, Any], text: str) -> list[fake.Event]:
        heard.append((current["id"], text))
        return [fake.agent_message(f"you said {text}"), fake.status_idle_end_turn()]

    fake_api.state.on_user_message(session.id, reply)
    client = anthropic_client.with_options(timeout=10)
    with client.beta.sessions.events.stream(session.id) as stream:
        sent = client.beta.sessions.events.send(session.id, events=[_user_message("hello")])
        events = _until_idle(stream)

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


def test_custom_tool_use_waits_for_its_result(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = _session(anthropic_client)
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
        client.beta.sessions.events.send(session.id, events=[_user_message("cats")])
        first = _until_idle(stream)
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
        second = _until_idle(stream)

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
    session = _session(anthropic_client)
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

    anthropic_client.beta.sessions.events.send(session.id, events=[_user_message("go")])
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
    session = _session(anthropic_client)
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
    anthropic_client.beta.sessions.events.send(session.id, events=[_user_message("go")])
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
    session = _session(anthropic_client)

    anthropic_client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])

    events = list(anthropic_client.beta.sessions.events.list(session.id))
    assert [e.type for e in events] == ["user.interrupt", "session.status_idle"]


def test_deny_message_needs_a_deny(fake_api: RunningFake, anthropic_client: Client) -> None:
    session = _session(anthropic_client)
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


def test_without_a_script_the_agent_ends_its_turn(anthropic_client: Client) -> None:
    session = _session(anthropic_client, initial_events=[_user_message("hi")])

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
    session = _session(anthropic_client)

    def broken(current: dict[str, Any], text: str) -> list[fake.Event]:
        raise RuntimeError("script bug")

    fake_api.state.on_user_message(session.id, broken)

    with pytest.raises(anthropic.InternalServerError, match="script bug"):
        anthropic_client.beta.sessions.events.send(session.id, events=[_user_message("hi")])
    assert [str(e) for e in fake_api.state.handler_errors] == ["script bug"]


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
    session = _session(anthropic_client)

    with pytest.raises(ValueError, match=str(bad["type"])):
        fake_api.state.emit(session.id, [fake.agent_message("fine"), bad])

    assert fake_api.state.events(session.id) == []


def test_dropped_stream_can_be_reopened_and_reconciled(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = _session(anthropic_client)
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
        after = _until_idle(stream)

    assert [e.content[0].text for e in before] == ["before the drop"]
    assert [e.type for e in after] == ["session.status_idle"]
    listed = [e.id for e in client.beta.sessions.events.list(session.id)]
    assert listed == [before[0].id, missed["id"], after[0].id]


def test_aborted_stream_breaks_the_connection(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    session = _session(anthropic_client)
    client = anthropic_client.with_options(timeout=10)

    with client.beta.sessions.events.stream(session.id) as stream:
        assert fake_api.state.open_streams(session.id) == 1
        fake_api.state.drop_streams(session.id, abort=True)
        # The SDK does not wrap errors raised while iterating a stream: callers see httpx2's.
        with pytest.raises(httpx2.RemoteProtocolError):
            list(stream)


def test_state_can_be_served_again_after_an_outage() -> None:
    with serve_fake() as first:
        port, state = first.port, first.state
        with Client(base_url=first.base_url, api_key=first.api_key, max_retries=0) as client:
            vault = client.beta.vaults.create(display_name="kept")

    with serve_fake(state, port=port) as second:
        assert second.base_url == first.base_url
        with Client(base_url=second.base_url, api_key=second.api_key, max_retries=0) as client:
            assert client.beta.vaults.retrieve(vault.id).display_name == "kept"
