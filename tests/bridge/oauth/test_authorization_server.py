"""The bridge as an OAuth authorization server, over a real uvicorn: metadata and discovery,
the three grants, the operator's consent, and every refusal a client can meet (an RFC 6749
error object each, never a 500, never a token in a log line)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from tests.bridge.conftest import RunningBridge, connect
from tests.bridge.oauth.support import OAUTH_TOML, basic, error_of, pkce, token_request
from vaults.cli import main as vault_main
from vaults.oauth import OAuthService

pytestmark = pytest.mark.anyio
StartBridge = Callable[..., RunningBridge]
REDIRECT = "http://127.0.0.1:1/callback"


@pytest.fixture
def bridge(start_bridge: StartBridge) -> RunningBridge:
    return start_bridge(OAUTH_TOML)


def _machine(bridge: RunningBridge, name: str = "agent", **options: object) -> tuple[str, str]:
    client, secret = OAuthService(bridge.store).add_client(name, **options)  # type: ignore[arg-type]
    assert secret is not None
    return client.client_id, secret


def _access(bridge: RunningBridge, client_id: str, secret: str, **form: str) -> str:
    response = token_request(
        bridge, {"grant_type": "client_credentials", **form}, basic(client_id, secret)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert "refresh_token" not in body or body["refresh_token"] is None
    assert response.headers["cache-control"] == "no-store"
    return str(body["access_token"])


def test_metadata_and_a_401_tell_any_client_how_to_authenticate(bridge: RunningBridge) -> None:
    server = httpx.get(f"{bridge.url}/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == bridge.url
    assert server["token_endpoint"] == f"{bridge.url}/token"
    assert server["authorization_endpoint"] == f"{bridge.url}/authorize"
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        server["grant_types_supported"]
    )
    assert "registration_endpoint" not in server or server["registration_endpoint"] is None
    resource = httpx.get(f"{bridge.url}/.well-known/oauth-protected-resource/mcp").json()
    assert resource["resource"] == f"{bridge.url}/mcp"
    assert resource["authorization_servers"] == [bridge.url]
    refused = httpx.post(f"{bridge.url}/mcp", json={})
    assert refused.status_code == 401
    assert (
        f'resource_metadata="{bridge.url}/.well-known/oauth-protected-resource/mcp"'
        in refused.headers["www-authenticate"]
    )
    assert httpx.post(f"{bridge.url}/register", json={}).status_code in (404, 405)


def test_the_static_bridge_advertises_no_oauth(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    assert httpx.get(f"{bridge.url}/.well-known/oauth-authorization-server").status_code == 404
    assert httpx.post(f"{bridge.url}/token", data={}).status_code in (404, 405)
    refused = httpx.post(f"{bridge.url}/mcp", json={})
    assert "resource_metadata" not in refused.headers["www-authenticate"]


@pytest.mark.parametrize("transport", ["http", "http-legacy", "sse"])
async def test_a_client_credentials_token_calls_the_tools_its_scopes_allow(
    bridge: RunningBridge, transport: str
) -> None:
    client_id, secret = _machine(bridge, scopes=["echo"])
    token = _access(bridge, client_id, secret)
    async with connect(bridge, transport, token) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"echo"}
        result = await client.call_tool("echo", {"text": "hi"})
        assert not result.is_error
    async with connect(bridge, transport) as client:  # the static token still works
        assert "greet" in {tool.name for tool in (await client.list_tools()).tools}


def test_the_secret_may_come_in_the_form_when_the_client_says_so(bridge: RunningBridge) -> None:
    client_id, secret = _machine(bridge, auth_method="client_secret_post")
    response = token_request(
        bridge,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("form", "headers", "expected"),
    [
        ({"grant_type": "client_credentials"}, "wrong-secret", (401, "invalid_client")),
        ({"grant_type": "client_credentials"}, "unknown-client", (401, "invalid_client")),
        ({"grant_type": "client_credentials"}, "no-auth", (401, "invalid_client")),
        ({"grant_type": "client_credentials", "scope": "admin"}, "ok", (400, "invalid_scope")),
        ({"grant_type": "password"}, "ok", (400, "invalid_request")),
        ({}, "ok", (400, "invalid_request")),
        ({"grant_type": "refresh_token", "refresh_token": "mcpb_x"}, "ok", (400, "invalid_grant")),
        (
            {"grant_type": "authorization_code", "code": "x", "code_verifier": "y" * 43},
            "ok",
            (400, "unsupported_grant_type"),
        ),
    ],
)
def test_bad_token_requests_get_the_rfc_6749_error(
    bridge: RunningBridge,
    form: dict[str, str],
    headers: str,
    expected: tuple[int, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client_id, secret = _machine(bridge, scopes=["echo"])
    auth = {
        "ok": basic(client_id, secret),
        "wrong-secret": basic(client_id, secret[:-3] + "AAA"),
        "unknown-client": basic("mcpc_nobody", secret),
        "no-auth": {},
    }[headers]
    with caplog.at_level(logging.DEBUG):
        response = token_request(bridge, form, auth)
    assert error_of(response) == expected, response.text
    assert response.json()["error_description"]
    assert secret not in caplog.text and secret not in response.text


def test_malformed_bodies_are_refused_before_any_lookup(bridge: RunningBridge) -> None:
    client_id, secret = _machine(bridge)
    auth = basic(client_id, secret)
    huge = token_request(bridge, {"grant_type": "client_credentials", "pad": "x" * 20000}, auth)
    assert error_of(huge) == (413, "invalid_request")
    as_json = httpx.post(
        f"{bridge.url}/token", json={"grant_type": "client_credentials"}, headers=auth
    )
    assert error_of(as_json) == (400, "invalid_request")
    repeated = httpx.post(
        f"{bridge.url}/token",
        content=b"grant_type=client_credentials&grant_type=refresh_token",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert error_of(repeated) == (400, "invalid_request")
    garbled = httpx.post(
        f"{bridge.url}/token", data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic %%%not-base64"},
    )  # fmt: skip
    assert error_of(garbled) == (401, "invalid_client")


async def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_family(
    bridge: RunningBridge,
) -> None:
    service = OAuthService(bridge.store)
    client, secret = service.add_client("agent", scopes=["echo"])
    assert secret is not None
    first = service.issue_grant(client)
    assert first.refresh_token is not None
    auth = basic(client.client_id, secret)
    refreshed = token_request(
        bridge, {"grant_type": "refresh_token", "refresh_token": first.refresh_token}, auth
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != first.refresh_token
    async with connect(bridge, "http", new["access_token"]) as mcp:
        assert (await mcp.call_tool("echo", {"text": "x"})).is_error is False
    replay = token_request(
        bridge, {"grant_type": "refresh_token", "refresh_token": first.refresh_token}, auth
    )
    assert error_of(replay) == (400, "invalid_grant")
    deadline = time.monotonic() + 1.0
    while (
        httpx.post(
            f"{bridge.url}/mcp", json={}, headers={"Authorization": f"Bearer {new['access_token']}"}
        ).status_code
        != 401
    ):
        assert time.monotonic() < deadline, "the family's access token still works after 1 s"
        await anyio.sleep(0.05)
    again = token_request(
        bridge, {"grant_type": "refresh_token", "refresh_token": new["refresh_token"]}, auth
    )
    assert error_of(again) == (400, "invalid_grant")


def _authorize(
    bridge: RunningBridge, client_id: str, challenge: str, **extra: str
) -> httpx.Response:
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "st4te", **extra,
    }  # fmt: skip
    return httpx.get(f"{bridge.url}/authorize", params=params)


def _consent(bridge: RunningBridge, client_id: str, challenge: str) -> tuple[str, str]:
    started = _authorize(bridge, client_id, challenge)
    assert started.status_code == 302, started.text
    consent = started.headers["location"]
    assert consent.startswith(f"{bridge.url}/oauth/consent/")
    page = httpx.get(consent)
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
    match = re.search(r"mcp-vault oauth approve ([A-Z0-9]{4}-[A-Z0-9]{4})", page.text)
    assert match is not None, page.text
    return consent, match.group(1)


async def test_pkce_with_the_operators_approval_then_a_code_for_tokens(
    bridge: RunningBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    client, _ = OAuthService(bridge.store).add_client(
        "desktop", scopes=["echo", "add"], redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"], auth_method="none",
    )  # fmt: skip
    verifier, challenge = pkce()
    consent, user_code = _consent(bridge, client.client_id, challenge)
    assert vault_main(["oauth", "pending"]) == 0
    listed = capsys.readouterr().out
    assert user_code in listed and "from 127.0.0.1 python-httpx" in listed
    assert vault_main(["oauth", "approve", user_code]) == 0
    back = httpx.get(consent)
    assert back.status_code == 302
    location = urlsplit(back.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st4te"]
    code = query["code"][0]
    assert httpx.get(consent).status_code == 400  # the code is issued once
    form = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": client.client_id,
    }  # fmt: skip
    wrong = token_request(bridge, {**form, "code_verifier": pkce()[0]})
    assert error_of(wrong) == (400, "invalid_grant")
    exchanged = token_request(bridge, {**form, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    assert tokens["refresh_token"] and tokens["scope"] == "echo add"
    async with connect(bridge, "http", tokens["access_token"]) as mcp:
        assert {tool.name for tool in (await mcp.list_tools()).tools} == {"echo", "add"}
    reused = token_request(bridge, {**form, "code_verifier": verifier})
    assert error_of(reused) == (400, "invalid_grant")
    await anyio.sleep(0.3)
    late = httpx.post(
        f"{bridge.url}/mcp", json={}, headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert late.status_code == 401  # a second use of a code revokes what the first issued


def test_a_denied_request_redirects_with_access_denied(bridge: RunningBridge) -> None:
    client, _ = OAuthService(bridge.store).add_client(
        "desktop", redirect_uris=[REDIRECT], grant_types=["authorization_code"],
        auth_method="none",
    )  # fmt: skip
    consent, user_code = _consent(bridge, client.client_id, pkce()[1])
    assert vault_main(["oauth", "deny", user_code]) == 0
    back = httpx.get(consent)
    assert back.status_code == 302
    assert parse_qs(urlsplit(back.headers["location"]).query)["error"] == ["access_denied"]


def test_authorize_refuses_what_it_must(bridge: RunningBridge) -> None:
    client, _ = OAuthService(bridge.store).add_client(
        "desktop", scopes=["echo"], redirect_uris=[REDIRECT],
        grant_types=["authorization_code"], auth_method="none",
    )  # fmt: skip
    _, challenge = pkce()
    elsewhere = _authorize(
        bridge, client.client_id, challenge, redirect_uri="https://evil.example/cb"
    )
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_request"
    assert "location" not in elsewhere.headers  # never a redirect to an unregistered URI
    plain = _authorize(bridge, client.client_id, challenge, code_challenge_method="plain")
    assert plain.status_code == 302
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    scoped = _authorize(bridge, client.client_id, challenge, scope="admin")
    assert parse_qs(urlsplit(scoped.headers["location"]).query)["error"] == ["invalid_scope"]
    globbed, _ = OAuthService(bridge.store).add_client(
        "globbed", scopes=["ec*"], redirect_uris=[REDIRECT],
        grant_types=["authorization_code"], auth_method="none",
    )  # fmt: skip
    assert _authorize(bridge, globbed.client_id, challenge, scope="echo").status_code == 302
    assert (
        "/oauth/consent/"
        in _authorize(bridge, globbed.client_id, challenge, scope="echo").headers["location"]
    )
    bad_challenge = _authorize(bridge, client.client_id, "short")
    assert parse_qs(urlsplit(bad_challenge.headers["location"]).query)["error"] == [
        "invalid_request"
    ]
    unknown = _authorize(bridge, "mcpc_nobody", challenge)
    assert unknown.status_code == 400
    assert httpx.get(f"{bridge.url}/oauth/consent/nope").status_code == 404


async def test_a_revoked_client_is_refused_within_a_second(bridge: RunningBridge) -> None:
    client_id, secret = _machine(bridge)
    token = _access(bridge, client_id, secret)
    async with connect(bridge, "http", token) as mcp:
        await mcp.list_tools()
    assert vault_main(["oauth", "client", "revoke", "agent"]) == 0
    deadline = time.monotonic() + 1.0
    headers = {"Authorization": f"Bearer {token}"}
    while httpx.post(f"{bridge.url}/mcp", json={}, headers=headers).status_code != 401:
        assert time.monotonic() < deadline
        await anyio.sleep(0.05)
    again = token_request(bridge, {"grant_type": "client_credentials"}, basic(client_id, secret))
    assert error_of(again) == (401, "invalid_client")


def test_revocation_endpoint_ends_a_grant(bridge: RunningBridge) -> None:
    client_id, secret = _machine(bridge)
    token = _access(bridge, client_id, secret)
    revoked = httpx.post(
        f"{bridge.url}/revoke", data={"token": token}, headers=basic(client_id, secret)
    )
    assert revoked.status_code == 200
    time.sleep(0.3)
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{bridge.url}/mcp", json={}, headers=headers).status_code == 401


def test_dynamic_registration_is_off_by_default_and_on_by_config(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge(OAUTH_TOML + 'dynamic_registration = true\ndynamic_scopes = ["echo"]\n')
    meta = {
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "client_name": "ide",
    }
    registered = httpx.post(f"{bridge.url}/register", json=meta)
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["client_id"].startswith("mcpc_") and body["scope"] == "echo"
    found = OAuthService(bridge.store).client(body["client_id"])
    assert found is not None and found.dynamic and found.public
    too_wide = httpx.post(f"{bridge.url}/register", json={**meta, "scope": "admin"})
    assert too_wide.status_code == 400
    blank = httpx.post(f"{bridge.url}/register", json={**meta, "scope": " "})
    assert blank.status_code == 201 and blank.json()["scope"] == "echo"  # never "every tool"
    # A confidential registration is made public: anyone may register, no one gets a secret.
    asked = {**meta, "token_endpoint_auth_method": "client_secret_post",
             "grant_types": ["authorization_code", "client_credentials"]}  # fmt: skip
    confidential = httpx.post(f"{bridge.url}/register", json=asked)
    assert confidential.status_code == 201, confidential.text
    answer = confidential.json()
    assert answer["token_endpoint_auth_method"] == "none"
    assert answer.get("client_secret") is None
    assert answer["grant_types"] == ["authorization_code"]


async def test_no_token_or_secret_reaches_a_log_line(
    bridge: RunningBridge, caplog: pytest.LogCaptureFixture
) -> None:
    service = OAuthService(bridge.store)
    client, secret = service.add_client("agent", scopes=["echo"])
    assert secret is not None
    auth = basic(client.client_id, secret)
    with caplog.at_level(logging.DEBUG):
        issued = token_request(bridge, {"grant_type": "client_credentials"}, auth).json()
        grant = service.issue_grant(client)
        assert grant.refresh_token is not None
        refreshed = token_request(
            bridge, {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}, auth
        ).json()
        async with connect(bridge, "http", issued["access_token"]) as mcp:
            await mcp.call_tool("echo", {"text": "x"})
        token_request(
            bridge, {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}, auth
        )  # a reuse: audited and logged, without the token
    text = caplog.text + "".join(str(row.to_dict()) for row in bridge.store.audit())
    assert "bridge.calls" in {record.name for record in caplog.records}
    for value in (secret, issued["access_token"], grant.refresh_token, refreshed["access_token"],
                  refreshed["refresh_token"], grant.access_token):  # fmt: skip
        assert value.split("_")[2] not in text  # not even the secret part
