"""The fake's platform side of ``mcp_oauth`` credentials, against a live MCP endpoint and token
endpoint: one refresh after a 401 then one retry, a refresh at expiry, the client auth each
``token_endpoint_auth`` type sends, and ``mcp_oauth_validate``'s result shapes (through the SDK
with strict response validation)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.managed_agents.oauth_refresh import McpOAuth
from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import Client
from tests.support.live import LiveServer, serve


class _Server:
    """An MCP endpoint that takes one bearer token, and the token endpoint that issues it."""

    def __init__(self) -> None:
        self.valid = "fresh-access"
        self.token_requests: list[tuple[dict[str, str], str | None]] = []
        self.refuse_refresh = False

    def app(self) -> Starlette:
        async def mcp(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.valid}":
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {}})

        async def token(request: Request) -> Response:
            form = {key: str(value) for key, value in (await request.form()).items()}
            self.token_requests.append((form, request.headers.get("authorization")))
            if self.refuse_refresh:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(
                {
                    "access_token": self.valid,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": "next-refresh",
                }
            )

        return Starlette(
            routes=[Route("/mcp", mcp, methods=["POST"]), Route("/token", token, methods=["POST"])]
        )


@pytest.fixture
def server() -> Iterator[tuple[_Server, LiveServer]]:
    state = _Server()
    with serve(state.app()) as live:
        yield state, live


def _credential(
    client: Client, live: LiveServer, auth_type: str = "client_secret_basic", **auth: Any
) -> tuple[str, str]:
    vault = client.beta.vaults.create(display_name="v")
    endpoint_auth: dict[str, str] = {"type": auth_type}
    if auth_type != "none":
        endpoint_auth["client_secret"] = "s3cret"
    created = client.beta.vaults.credentials.create(
        vault.id,
        auth={  # type: ignore[arg-type]
            "type": "mcp_oauth", "mcp_server_url": f"{live.url}/mcp", "access_token": "stale",
            "refresh": {
                "refresh_token": "first-refresh", "client_id": "mcpc_1",
                "token_endpoint": f"{live.url}/token", "token_endpoint_auth": endpoint_auth,
            },
            **auth,
        },
    )  # fmt: skip
    return vault.id, created.id


@pytest.mark.parametrize("auth_type", ["client_secret_basic", "client_secret_post", "none"])
def test_a_401_makes_one_refresh_with_the_credentials_client_auth_then_one_retry(
    fake_api: RunningFake,
    anthropic_client: Client,
    server: tuple[_Server, LiveServer],
    auth_type: str,
) -> None:
    state, live = server
    vault_id, credential_id = _credential(anthropic_client, live, auth_type)
    platform = fake_api.state.credentials.oauth
    with httpx2.Client(auth=McpOAuth(platform, vault_id, credential_id)) as http:
        assert http.post(f"{live.url}/mcp", json={}).status_code == 200
        assert http.post(f"{live.url}/mcp", json={}).status_code == 200  # no second refresh
    [(form, header)] = state.token_requests
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "first-refresh"
    if auth_type == "client_secret_basic":
        assert header == "Basic " + base64.b64encode(b"mcpc_1:s3cret").decode()
        assert "client_secret" not in form
    elif auth_type == "client_secret_post":
        assert (
            header is None and form["client_id"] == "mcpc_1" and form["client_secret"] == "s3cret"
        )
    else:
        assert header is None and form["client_id"] == "mcpc_1" and "client_secret" not in form
    secret = fake_api.state.credentials.vaults.secrets[credential_id]
    assert secret["secret"] == "fresh-access" and secret["refresh_token"] == "next-refresh"
    stored = anthropic_client.beta.vaults.credentials.retrieve(credential_id, vault_id=vault_id)
    assert stored.auth.type == "mcp_oauth" and stored.auth.expires_at is not None


def test_a_refused_refresh_returns_the_401_without_a_loop(
    fake_api: RunningFake, anthropic_client: Client, server: tuple[_Server, LiveServer]
) -> None:
    state, live = server
    state.refuse_refresh = True
    vault_id, credential_id = _credential(anthropic_client, live)
    platform = fake_api.state.credentials.oauth
    with httpx2.Client(auth=McpOAuth(platform, vault_id, credential_id)) as http:
        assert http.post(f"{live.url}/mcp", json={}).status_code == 401
    assert len(state.token_requests) == 1
    assert platform.refreshes == [(credential_id, 400)]


def test_an_expired_access_token_is_refreshed_before_the_call(
    fake_api: RunningFake, anthropic_client: Client, server: tuple[_Server, LiveServer]
) -> None:
    state, live = server
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    vault_id, credential_id = _credential(anthropic_client, live, expires_at=soon)
    platform = fake_api.state.credentials.oauth
    credential = fake_api.state.credentials.vaults.credentials[credential_id]
    credential.body["auth"]["expires_at"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    with httpx2.Client(auth=McpOAuth(platform, vault_id, credential_id)) as http:
        assert http.post(f"{live.url}/mcp", json={}).status_code == 200
    assert len(state.token_requests) == 1


def test_validate_reports_valid_after_a_refresh_and_invalid_when_it_fails(
    fake_api: RunningFake, anthropic_client: Client, server: tuple[_Server, LiveServer]
) -> None:
    state, live = server
    vault_id, credential_id = _credential(anthropic_client, live)
    credentials = anthropic_client.beta.vaults.credentials
    verdict = credentials.mcp_oauth_validate(credential_id, vault_id=vault_id)
    assert verdict.type == "vault_credential_validation" and verdict.status == "valid"
    assert verdict.has_refresh_token and verdict.mcp_probe is None
    assert verdict.refresh is not None and verdict.refresh.status == "succeeded"
    again = credentials.mcp_oauth_validate(credential_id, vault_id=vault_id)
    assert again.status == "valid" and again.refresh is None  # no 401, no refresh tried
    state.valid = "rotated-elsewhere"
    state.refuse_refresh = True
    failed = credentials.mcp_oauth_validate(credential_id, vault_id=vault_id)
    assert failed.status == "invalid"
    assert failed.mcp_probe is not None and failed.mcp_probe.method == "initialize"
    assert failed.mcp_probe.http_response is not None
    assert failed.mcp_probe.http_response.status_code == 401
    assert failed.refresh is not None and failed.refresh.status == "failed"


def test_validate_refuses_other_credential_types(
    anthropic_client: Client, server: tuple[_Server, LiveServer]
) -> None:
    import anthropic

    _, live = server
    vault = anthropic_client.beta.vaults.create(display_name="v")
    bearer = anthropic_client.beta.vaults.credentials.create(
        vault.id,
        auth={"type": "static_bearer", "mcp_server_url": f"{live.url}/mcp", "token": "t"},
    )
    with pytest.raises(anthropic.BadRequestError, match="not an mcp_oauth"):
        anthropic_client.beta.vaults.credentials.mcp_oauth_validate(bearer.id, vault_id=vault.id)


def test_callers_that_meet_an_expired_token_together_refresh_once(
    fake_api: RunningFake, anthropic_client: Client, server: tuple[_Server, LiveServer]
) -> None:
    import threading

    state, live = server
    vault_id, credential_id = _credential(anthropic_client, live)
    platform = fake_api.state.credentials.oauth
    seen = platform.access_token(vault_id, credential_id)
    results: list[bool] = []
    callers = [
        threading.Thread(
            target=lambda: results.append(platform.refresh_from(vault_id, credential_id, seen))
        )
        for _ in range(4)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert results == [True] * 4 and len(state.token_requests) == 1
