"""``mcp-vault oauth``: adding, listing and revoking OAuth clients, and the operator's consent;
bad input is one line on stderr and a non-zero exit, and no secret is printed twice."""

from __future__ import annotations

import json

import pytest

from tests.vaults.test_cli import _Cli, _one_error_line
from vaults import Store
from vaults.oauth import OAuthService

CONTRACT = {
    ("oauth", "client", "add"): [
        "--scope", "--redirect-uri", "--grant", "--public", "--auth-method", "--json",
    ],
    ("oauth", "client", "list"): ["--json"],
    ("oauth", "client", "revoke"): [],
    ("oauth", "pending"): ["--all", "--json"],
    ("oauth", "approve"): [],
    ("oauth", "deny"): [],
    ("remote", "link"): ["--oauth", "--token-endpoint", "--vault", "--url"],
    ("remote", "validate"): ["--vault", "--json"],
}  # fmt: skip


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> _Cli:
    return _Cli(capsys, monkeypatch)


@pytest.mark.parametrize("command", sorted(CONTRACT))
def test_every_oauth_command_and_option_exists(cli: _Cli, command: tuple[str, ...]) -> None:
    code, out, _ = cli(*command, "--help")
    assert code == 0
    for option in CONTRACT[command]:
        assert option in out, f"{' '.join(command)} lacks {option}"


def test_a_client_is_added_with_its_secret_shown_once(cli: _Cli) -> None:
    code, out, err = cli("oauth", "client", "add", "agent", "--scope", "echo")
    assert code == 0
    secret = out.splitlines()[-1].removeprefix("client_secret: ")
    assert secret.startswith("mcpb_") and secret not in err
    client_id = out.splitlines()[-2].removeprefix("client_id: ")
    for args in (
        ("oauth", "client", "list"), ("oauth", "client", "list", "--json"), ("list",),
        ("show", "agent"), ("audit", "--json"),
    ):  # fmt: skip
        code, shown, _ = cli(*args)
        assert code == 0 and secret not in shown
    [listed] = json.loads(cli("oauth", "client", "list", "--json")[1])
    assert listed["client_id"] == client_id and listed["scopes"] == ["echo"]
    assert listed["grant_types"] == ["client_credentials", "refresh_token"]
    assert "oauth_client" in cli("list")[1]
    with Store.open() as store:
        assert OAuthService(store).authenticate(client_id, secret).name == "agent"
    code, out, _ = cli("rotate", "agent", "--grace", "1m")  # the rotation machine, as for tokens
    rotated = out.strip().splitlines()[-1]
    assert code == 0 and rotated.startswith("mcpb_") and rotated != secret
    with Store.open() as store:
        assert OAuthService(store).authenticate(client_id, rotated).name == "agent"
        assert OAuthService(store).authenticate(client_id, secret).name == "agent"  # in grace


def test_a_public_client_has_no_secret(cli: _Cli) -> None:
    code, out, _ = cli(
        "oauth", "client", "add", "ide", "--public", "--redirect-uri", "http://localhost:9/cb",
        "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["client_secret"] is None and data["auth_method"] == "none"
    assert data["grant_types"] == ["authorization_code", "refresh_token"]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("oauth", "client", "add", "ide", "--public"), 2, "redirect-uri"),
        (("oauth", "client", "add", "a", "--redirect-uri", "http://evil.example/cb"), 2, "https"),
        (
            ("oauth", "client", "add", "a", "--redirect-uri", "https://x.example/cb#f"),
            2,
            "fragment",
        ),
        (("oauth", "client", "add", "bad name"), 2, "name"),
        (("oauth", "client", "add", "a", "--scope", " "), 2, "scope"),
        (("oauth", "client", "revoke", "nobody"), 1, "no OAuth client"),
        (("oauth", "approve", "ZZZZ-ZZZZ"), 1, "no authorization request"),
        (("oauth", "deny", "ZZZZ-ZZZZ"), 1, "no authorization request"),
        (
            (
                "remote",
                "link",
                "a",
                "--vault",
                "v",
                "--url",
                "https://b/mcp",
                "--token-endpoint",
                "https://b/token",
            ),
            2,
            "--oauth",
        ),
        (("remote", "validate", "nobody"), 1, "no credential named"),
    ],
)
def test_bad_oauth_input_is_one_line_and_changes_nothing(
    cli: _Cli, args: tuple[str, ...], code: int, needle: str
) -> None:
    assert cli("init")[0] == 0
    before = cli("audit", "--json")[1]
    got, out, err = cli(*args)
    assert got == code and out == ""
    assert needle in _one_error_line(err)
    assert cli("audit", "--json")[1] == before


def test_a_taken_name_is_refused(cli: _Cli) -> None:
    assert cli("add", "agent", "--kind", "token")[0] == 0
    code, _, err = cli("oauth", "client", "add", "agent")
    assert code == 1 and "already exists" in _one_error_line(err)


def test_pending_approve_and_deny(cli: _Cli) -> None:
    assert cli("oauth", "client", "add", "ide", "--public", "--redirect-uri",
               "http://localhost:9/cb")[0] == 0  # fmt: skip
    with Store.open() as store:
        oauth = OAuthService(store)
        client = oauth.named("ide")
        asks = [
            oauth.request_authorization(
                client, redirect_uri="http://localhost:9/cb", redirect_uri_provided_explicitly=True,
                code_challenge="c" * 43, scopes=None, state=None, resource=None,
            )
            for _ in range(2)
        ]  # fmt: skip
    code, out, _ = cli("oauth", "pending")
    assert code == 0 and all(ask.user_code in out for ask in asks)
    assert cli("oauth", "approve", asks[0].user_code.lower())[0] == 0
    assert cli("oauth", "deny", asks[1].user_code)[0] == 0
    code, out, err = cli("oauth", "pending")
    assert code == 0 and out == "" and "no authorization request" in err
    statuses = {
        row["user_code"]: row["status"]
        for row in json.loads(cli("oauth", "pending", "--all", "--json")[1])
    }
    assert statuses == {asks[0].user_code: "approved", asks[1].user_code: "denied"}
    code, _, err = cli("oauth", "approve", asks[1].user_code)
    assert code == 2 and "denied" in _one_error_line(err)
