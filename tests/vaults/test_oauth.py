"""The OAuth service on a real store (both engines): clients, grants, refresh rotation with
reuse detection, consent and codes; and what the bridge's verifier makes of the tokens."""

from __future__ import annotations

import time

import pytest

from vaults import Store
from vaults.errors import NotFoundError, OAuthError, UsageError
from vaults.oauth import OAuthService
from vaults.rotation import rotate

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
def oauth(store: Store) -> OAuthService:
    return OAuthService(store)


def _code(oauth: OAuthService, name: str = "ide") -> tuple[str, str]:
    client, _ = oauth.add_client(
        name, scopes=["echo"], redirect_uris=["http://127.0.0.1:9/cb"],
        grant_types=["authorization_code", "refresh_token"], auth_method="none",
    )  # fmt: skip
    pending = oauth.request_authorization(
        client, redirect_uri="http://127.0.0.1:9/cb", redirect_uri_provided_explicitly=True,
        code_challenge=CHALLENGE, scopes=None, state="s1", resource=None,
    )  # fmt: skip
    assert pending.status == "pending" and len(pending.user_code) == 9
    oauth.approve(pending.user_code.lower().replace("-", ""))
    return client.client_id, oauth.issue_code(pending.request_id)


def test_a_client_secret_authenticates_and_is_never_a_bearer_token(
    store: Store, oauth: OAuthService
) -> None:
    client, secret = oauth.add_client("agent", scopes=["echo", "wiki_*"])
    assert secret is not None and secret.startswith("mcpb_")
    assert store.show("agent").kind == "token"
    assert oauth.authenticate(client.client_id, secret).name == "agent"
    for wrong in (None, "", "mcpb_nope", secret[:-1] + ("A" if secret[-1] != "A" else "B")):
        with pytest.raises(OAuthError) as caught:
            oauth.authenticate(client.client_id, wrong)
        assert caught.value.code == "invalid_client"
    with pytest.raises(OAuthError, match="unknown"):
        oauth.authenticate("mcpc_unknown", secret)
    with store.token_index() as verifier:
        assert verifier.verify(secret) is None  # a client secret opens no MCP session
    assert repr(secret) not in repr(client)


def test_client_credentials_issue_a_short_access_token_the_verifier_accepts(
    store: Store,
) -> None:
    oauth = OAuthService(store, access_ttl=0.4)
    client, _ = oauth.add_client("agent", scopes=["echo", "wiki_*"])
    issued = oauth.client_credentials(client, ["echo"])
    assert issued.refresh_token is None and issued.scopes == ("echo",)
    with store.token_index() as verifier:
        principal = verifier.verify(issued.access_token)
        assert principal is not None and principal.name == "agent"
        assert principal.scopes == ("echo",)
        time.sleep(0.45)
        assert verifier.verify(issued.access_token) is None  # expired
    with pytest.raises(OAuthError) as caught:
        oauth.client_credentials(client, ["admin"])
    assert caught.value.code == "invalid_scope"
    public, _ = oauth.add_client(
        "ide", redirect_uris=["http://localhost:1/cb"],
        grant_types=["authorization_code"], auth_method="none",
    )  # fmt: skip
    with pytest.raises(OAuthError) as caught:
        oauth.client_credentials(public, None)
    assert caught.value.code == "unauthorized_client"


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(
    store: Store, oauth: OAuthService
) -> None:
    client, _ = oauth.add_client("agent", scopes=["echo"])
    first = oauth.issue_grant(client)
    assert first.refresh_token is not None
    second = oauth.refresh(client, first.refresh_token)
    assert second.refresh_token not in (None, first.refresh_token)
    with store.token_index() as verifier:
        assert verifier.verify(second.access_token) is not None
        with pytest.raises(OAuthError) as caught:
            oauth.refresh(client, first.refresh_token)  # the thief, or a replay
        assert caught.value.code == "invalid_grant" and "already used" in str(caught.value)
        verifier.refresh()
        assert verifier.verify(second.access_token) is None
        assert verifier.verify(first.access_token) is None
    with pytest.raises(OAuthError, match="revoked"):
        assert second.refresh_token is not None
        oauth.refresh(client, second.refresh_token)
    assert [row.action for row in store.audit()].count("oauth.reuse") == 1
    for bad in ("mcpb_garbage", first.access_token):
        with pytest.raises(OAuthError) as caught:
            oauth.refresh(client, bad)
        assert caught.value.code == "invalid_grant"


def test_a_refresh_token_of_another_client_or_expired_is_invalid_grant(store: Store) -> None:
    oauth = OAuthService(store, refresh_ttl=0.3)
    mine, _ = oauth.add_client("mine")
    other, _ = oauth.add_client("other")
    issued = oauth.issue_grant(mine)
    assert issued.refresh_token is not None
    with pytest.raises(OAuthError, match="unknown"):
        oauth.refresh(other, issued.refresh_token)
    time.sleep(0.35)
    with pytest.raises(OAuthError, match="expired"):
        oauth.refresh(mine, issued.refresh_token)


def test_the_operator_approves_a_pkce_request_and_the_code_is_single_use(
    store: Store, oauth: OAuthService
) -> None:
    client_id, code = _code(oauth)
    client = oauth.client(client_id)
    assert client is not None and client.public
    bound = oauth.load_code(client, code)
    assert bound is not None and bound.code_challenge == CHALLENGE
    assert bound.redirect_uri == "http://127.0.0.1:9/cb"
    issued = oauth.exchange_code(client, code)
    assert issued.refresh_token is not None and issued.scopes == ("echo",)
    with pytest.raises(OAuthError, match="already used"):
        oauth.exchange_code(client, code)
    with store.token_index() as verifier:
        assert verifier.verify(issued.access_token) is None  # what the first use issued ends
    [request] = oauth.pending()
    assert request.status == "issued"
    with pytest.raises(UsageError, match="issued"):
        oauth.approve(request.user_code)
    with pytest.raises(NotFoundError):
        oauth.approve("ZZZZ-ZZZZ")


def test_a_denied_request_issues_no_code(oauth: OAuthService) -> None:
    client, _ = oauth.add_client(
        "ide", redirect_uris=["https://ide.example/cb"],
        grant_types=["authorization_code"], auth_method="none",
    )  # fmt: skip
    pending = oauth.request_authorization(
        client, redirect_uri="https://ide.example/cb", redirect_uri_provided_explicitly=True,
        code_challenge=CHALLENGE, scopes=None, state=None, resource=None,
    )  # fmt: skip
    assert oauth.deny(pending.user_code).status == "denied"
    with pytest.raises(OAuthError) as caught:
        oauth.issue_code(pending.request_id)
    assert caught.value.code == "invalid_request"


def test_revoking_a_client_ends_its_secret_grants_and_tokens(
    store: Store, oauth: OAuthService
) -> None:
    client, secret = oauth.add_client("agent")
    issued = oauth.issue_grant(client)
    oauth.revoke_client("agent")
    with store.token_index() as verifier:
        assert verifier.verify(issued.access_token) is None
    with pytest.raises(OAuthError):
        oauth.authenticate(client.client_id, secret)
    assert oauth.named("agent").revoked


def test_revoke_token_ends_its_grant(store: Store, oauth: OAuthService) -> None:
    client, _ = oauth.add_client("agent")
    issued = oauth.issue_grant(client)
    assert issued.refresh_token is not None
    assert oauth.revoke_token(issued.refresh_token)
    assert not oauth.revoke_token(issued.refresh_token)
    assert not oauth.revoke_token("mcpb_unknown")
    with store.token_index() as verifier:
        assert verifier.verify(issued.access_token) is None


def test_a_rotated_client_secret_overlaps_then_the_old_one_ends(
    store: Store, oauth: OAuthService
) -> None:
    client, old = oauth.add_client("agent")
    result = rotate(store, "agent", grace=0.4)
    assert oauth.authenticate(client.client_id, result.value).name == "agent"
    assert oauth.authenticate(client.client_id, old).name == "agent"  # within grace
    time.sleep(0.45)
    with pytest.raises(OAuthError):
        oauth.authenticate(client.client_id, old)


def test_bad_client_definitions_are_usage_errors(oauth: OAuthService) -> None:
    with pytest.raises(UsageError, match="redirect-uri"):
        oauth.add_client("a", grant_types=["authorization_code"])
    with pytest.raises(UsageError, match="https"):
        oauth.add_client("a", grant_types=["authorization_code"], redirect_uris=["http://x/cb"])
    with pytest.raises(UsageError, match="public"):
        oauth.add_client("a", auth_method="none")
    with pytest.raises(UsageError, match="grant types"):
        oauth.add_client("a", grant_types=["password"])


def test_a_plain_revoke_of_a_client_ends_its_grants_too(store: Store, oauth: OAuthService) -> None:
    machine, _ = oauth.add_client("agent")
    issued = oauth.issue_grant(machine)
    public, _ = oauth.add_client(
        "ide", redirect_uris=["http://localhost:1/cb"],
        grant_types=["authorization_code", "refresh_token"], auth_method="none",
    )  # fmt: skip
    held = oauth.issue_grant(public)
    assert held.refresh_token is not None
    store.revoke("agent")  # mcp-vault revoke NAME, not oauth client revoke
    store.revoke("ide")  # a public client has no secret version: its grants end all the same
    with store.token_index() as verifier:
        assert verifier.verify(issued.access_token) is None
        assert verifier.verify(held.access_token) is None
    with pytest.raises(OAuthError):
        oauth.refresh(oauth.named("ide"), held.refresh_token)
    assert oauth.named("agent").revoked and oauth.named("ide").revoked


def test_scopes_are_tool_globs(oauth: OAuthService) -> None:
    client, _ = oauth.add_client("agent", scopes=["inv_*"])
    issued = oauth.client_credentials(client, ["inv_read"])
    assert issued.scopes == ("inv_read",)
    with pytest.raises(OAuthError) as caught:
        oauth.client_credentials(client, ["crm_read"])
    assert caught.value.code == "invalid_scope"
    assert oauth.client_credentials(client, ["  "]).scopes == ("inv_*",)  # blank: the client's


def test_authorization_requests_are_bounded(oauth: OAuthService) -> None:
    client, _ = oauth.add_client(
        "ide", redirect_uris=["https://ide.example/cb"], grant_types=["authorization_code"],
        auth_method="none",
    )  # fmt: skip

    def ask(**changes: object) -> object:
        fields: dict[str, object] = {
            "redirect_uri": "https://ide.example/cb", "redirect_uri_provided_explicitly": True,
            "code_challenge": CHALLENGE, "scopes": None, "state": None, "resource": None,
        }  # fmt: skip
        return oauth.request_authorization(client, **{**fields, **changes})  # type: ignore[arg-type]

    for bad in ({"code_challenge": "plain-verifier"}, {"state": "s" * 600}):
        with pytest.raises(OAuthError) as caught:
            ask(**bad)
        assert caught.value.code == "invalid_request"
    for _ in range(20):
        ask(requester="127.0.0.1 test")
    with pytest.raises(OAuthError) as caught:
        ask()
    assert caught.value.code == "temporarily_unavailable"
    assert {request.requester for request in oauth.pending()} == {"127.0.0.1 test"}


def test_an_expired_access_token_is_lapsed_a_revoked_one_is_not(store: Store) -> None:
    oauth = OAuthService(store, access_ttl=0.3)
    client, _ = oauth.add_client("agent")
    expiring = oauth.issue_grant(client)
    revoked = oauth.issue_grant(client)
    static = store.add_token("plain").token
    assert revoked.refresh_token is not None
    oauth.revoke_token(revoked.refresh_token)
    time.sleep(0.35)
    with store.token_index() as verifier:
        assert verifier.verify(expiring.access_token) is None
        assert verifier.lapsed(expiring.access_token)  # what it opened may stay open
        assert not verifier.lapsed(revoked.access_token)  # what it opened ends
        assert not verifier.lapsed(static) and not verifier.lapsed("mcpb_nonsense")
