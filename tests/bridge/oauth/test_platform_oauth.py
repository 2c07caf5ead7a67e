"""The whole OAuth path with the platform (the fake) in the middle: an OAuth client linked to an
Anthropic vault as an ``mcp_oauth`` credential, a session whose access token expires while it
keeps calling tools (the platform refreshes at the bridge's token endpoint, no call fails), a
rotation of the client secret pushed into the credential, and ``remote validate``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import anthropic
import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bridge.agents import agent_spec, ensure_agent, start_session
from tests.bridge.conftest import RunningBridge
from tests.bridge.oauth.support import OAUTH_TOML
from tests.fakes.managed_agents.oauth_refresh import McpOAuth
from tests.fakes.server import RunningFake
from vaults.cli import main as vault_main

pytestmark = pytest.mark.anyio
StartBridge = Callable[..., RunningBridge]
MODEL = "claude-opus-4-8"


def _linked(
    bridge: RunningBridge, capsys: pytest.CaptureFixture[str], *scopes: str
) -> dict[str, str]:
    capsys.readouterr()
    flags = [arg for scope in scopes for arg in ("--scope", scope)]
    assert vault_main(["oauth", "client", "add", "agent", *flags, "--json"]) == 0
    client = json.loads(capsys.readouterr().out)
    url = bridge.config.server.public_url
    assert vault_main(["remote", "link", "agent", "--oauth", "--vault", "team", "--url", url]) == 0
    return client


async def test_a_session_keeps_calling_tools_across_access_token_expiry_and_a_secret_rotation(
    api: RunningFake,
    anthropic_client: anthropic.Anthropic,
    start_bridge: StartBridge,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bridge = start_bridge(OAUTH_TOML + 'access_token_ttl = "1s"\n')
    client = _linked(bridge, capsys, "echo")
    [link] = bridge.store.links("agent")
    assert link.kind == "anthropic_oauth"
    remote = anthropic_client.beta.vaults.credentials.retrieve(
        link.remote_id, vault_id=link.vault_id
    )
    assert remote.auth.type == "mcp_oauth"
    assert remote.auth.refresh is not None
    assert remote.auth.refresh.client_id == client["client_id"]
    assert remote.auth.refresh.token_endpoint == f"{bridge.url}/token"
    assert remote.auth.refresh.token_endpoint_auth.type == "client_secret_basic"

    environment = anthropic_client.beta.environments.create(name="oauth")
    agent = ensure_agent(
        anthropic_client, agent_spec(bridge.config, name="oauth-agent", model=MODEL)
    )
    session = start_session(
        anthropic_client, agent, environment_id=environment.id, vault_ids=[link.vault_id]
    )
    found = api.state.resolve_credential(list(session.vault_ids), agent.mcp_servers[0].url)
    assert found is not None
    vault_id, credential = found
    platform = api.state.credentials.oauth
    first_token = platform.access_token(vault_id, credential["id"])

    http = httpx2.AsyncClient(auth=McpOAuth(platform, vault_id, credential["id"]))
    url = agent.mcp_servers[0].url
    failures: list[str] = []
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as mcp:
        for round_ in range(3):
            with anyio.fail_after(20):
                deadline = anyio.current_time() + 1.5
                while anyio.current_time() < deadline:
                    result = await mcp.call_tool("echo", {"text": "tick"})
                    if result.is_error:
                        failures.append(str(result.content))
                    await anyio.sleep(0.2)
            if round_ == 0:
                capsys.readouterr()
                assert vault_main(["rotate", "agent", "--grace", "1s"]) == 0
        assert {tool.name for tool in (await mcp.list_tools()).tools} == {"echo"}
    assert failures == []
    statuses = [status for credential_id, status in platform.refreshes]
    assert len(statuses) >= 3 and set(statuses) == {200}, statuses
    assert platform.access_token(vault_id, credential["id"]) != first_token
    [link] = bridge.store.links("agent")
    assert link.pushed_version == 2  # the rotated client secret reached the credential
    assert api.state.credentials.vaults.secrets[credential["id"]][
        "client_secret"
    ] == bridge.store.secret("agent")


def test_remote_validate_prints_the_platforms_verdict(
    api: RunningFake, start_bridge: StartBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = start_bridge(OAUTH_TOML)
    _linked(bridge, capsys)
    capsys.readouterr()
    assert vault_main(["remote", "validate", "agent"]) == 0
    assert ": valid" in capsys.readouterr().out
    assert vault_main(["oauth", "client", "revoke", "agent"]) == 0
    time.sleep(0.6)  # the bridge refuses a revoked client's tokens within its 0.25 s recheck
    capsys.readouterr()
    assert vault_main(["remote", "validate", "agent", "--json"]) == 1
    [verdict] = json.loads(capsys.readouterr().out)
    assert verdict["status"] == "invalid"
    assert verdict["mcp_probe"]["http_response"]["status_code"] == 401
    assert verdict["refresh"]["status"] == "failed"
    assert verdict["refresh"]["http_response"]["status_code"] == 401  # invalid_client
    assert vault_main(["remote", "unlink", "agent", "--vault", "team"]) == 0
    assert bridge.store.links("agent") == []
    [archived] = [
        body for body in (r.body for r in api.state.credentials.vaults.credentials.values())
        if body["auth"]["type"] == "mcp_oauth"
    ]  # fmt: skip
    assert archived["archived_at"] is not None


def test_link_refuses_what_cannot_work_and_leaves_no_grant_behind(
    api: RunningFake, start_bridge: StartBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = start_bridge(OAUTH_TOML)
    url = bridge.config.server.public_url
    vault_main(
        ["oauth", "client", "add", "ide", "--public", "--redirect-uri", "http://localhost:1/cb"]
    )
    capsys.readouterr()
    assert vault_main(["remote", "link", "ide", "--oauth", "--vault", "team", "--url", url]) == 2
    assert "public client" in capsys.readouterr().err
    assert vault_main(["remote", "link", "agents", "--oauth", "--vault", "team", "--url", url]) != 0
    assert "no OAuth client named 'agents'" in capsys.readouterr().err
    # the static token already holds the URL's credential in this vault: a conflict, not a mix
    assert vault_main(["remote", "link", "agents", "--vault", "team", "--url", url]) == 0
    vault_main(["oauth", "client", "add", "agent"])
    capsys.readouterr()
    assert vault_main(["remote", "link", "agent", "--oauth", "--vault", "team", "--url", url]) == 1
    err = capsys.readouterr().err
    assert "already has a credential" in err and err.count("\n") == 1
    assert bridge.store.links("agent") == []
    with bridge.store.index.read() as conn:
        live = conn.execute(
            "SELECT COUNT(*) FROM oauth_grants WHERE revoked_at IS NULL"
        ).fetchone()[0]
    assert live == 0


def test_linking_again_updates_the_credential_in_place(
    api: RunningFake, start_bridge: StartBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = start_bridge(OAUTH_TOML)
    _linked(bridge, capsys, "echo")
    [first] = bridge.store.links("agent")
    assert first.remote_id is not None
    held = api.state.secret_for(first.vault_id, first.remote_id)
    url = bridge.config.server.public_url
    assert vault_main(["remote", "link", "agent", "--oauth", "--vault", "team", "--url", url]) == 0
    [again] = bridge.store.links("agent")
    assert again.id == first.id and again.remote_id == first.remote_id
    assert api.state.secret_for(again.vault_id, again.remote_id) != held
    with bridge.store.index.read() as conn:
        live = conn.execute("SELECT COUNT(*) FROM oauth_grants WHERE revoked_at IS NULL")
        assert live.fetchone()[0] == 1  # the grant the credential held before has ended
    oauth = [
        body for body in (r.body for r in api.state.credentials.vaults.credentials.values())
        if body["auth"]["type"] == "mcp_oauth"
    ]  # fmt: skip
    assert len(oauth) == 1 and oauth[0]["auth"]["refresh"]["scope"] == "echo"
    capsys.readouterr()
    vault_main(["doctor", "--json"])  # the loopback URL fails its own check here; not this one
    checks = json.loads(capsys.readouterr().out)
    [remote] = [check for check in checks if "/vcrd_" in check["detail"]]
    assert remote["ok"] and f"version {again.pushed_version}" in remote["detail"], remote
