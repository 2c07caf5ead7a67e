"""Anthropic vault sync through `mcp-vault remote ...`, against the local Managed Agents fake."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from tests.fakes.server import RunningFake
from vaults import links
from vaults.cli import main
from vaults.remote import install_pusher
from vaults.rotation import rotate, unregister_pusher
from vaults.store import Store

URL = "https://bridge.example.com/mcp"


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open() as opened:
        opened.init()
        yield opened


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _links(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    code, out, _ = _run(capsys, "remote", "list", "--json")
    assert code == 0
    return list(json.loads(out))


def _credentials(client: anthropic.Anthropic, vault_id: str) -> list[object]:
    return list(client.beta.vaults.credentials.list(vault_id))


def test_link_creates_the_vault_and_a_static_bearer_credential_with_the_current_token(
    api: RunningFake,
    store: Store,
    anthropic_client: anthropic.Anthropic,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = store.add_token("agents").token
    code, out, err = _run(capsys, "remote", "link", "agents", "--vault", "team-vault", "--url", URL)
    assert code == 0, err
    [vault] = [v for v in anthropic_client.beta.vaults.list() if v.display_name == "team-vault"]
    [credential] = _credentials(anthropic_client, vault.id)
    assert credential.auth.type == "static_bearer"  # type: ignore[attr-defined]
    assert credential.auth.mcp_server_url == URL  # type: ignore[attr-defined]
    assert credential.metadata == {  # type: ignore[attr-defined]
        "mcp-vault-store": store.store_id,
        "mcp-vault-credential": "agents",
    }
    assert api.state.secret_for(vault.id, credential.id) == token  # type: ignore[attr-defined]
    [link] = _links(capsys)
    assert link["vault_id"] == vault.id and link["remote_id"] == credential.id  # type: ignore[attr-defined]
    assert link["pushed_version"] == 1 and link["url"] == URL
    assert token not in out and token not in err


def test_linking_again_or_by_vault_id_creates_nothing_new(
    api: RunningFake,
    store: Store,
    anthropic_client: anthropic.Anthropic,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.add_token("agents")
    vault = anthropic_client.beta.vaults.create(display_name="by-id")
    for _ in range(2):
        code, _, err = _run(capsys, "remote", "link", "agents", "--vault", vault.id, "--url", URL)
        assert code == 0, err
    assert len(_credentials(anthropic_client, vault.id)) == 1
    assert len(_links(capsys)) == 1


def test_a_display_name_shared_by_two_vaults_asks_for_the_id(
    api: RunningFake,
    store: Store,
    anthropic_client: anthropic.Anthropic,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.add_token("agents")
    ids = [anthropic_client.beta.vaults.create(display_name="dup").id for _ in range(2)]
    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", "dup", "--url", URL)
    assert code == 2
    [line] = err.strip().splitlines()
    assert all(vault_id in line for vault_id in ids) and "vlt_ id" in line
    assert store.links("agents") == []


def test_the_same_token_can_be_linked_to_several_vaults(
    api: RunningFake, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    token = store.add_token("agents").token
    for vault in ("one", "two"):
        assert _run(capsys, "remote", "link", "agents", "--vault", vault, "--url", URL)[0] == 0
    links = _links(capsys)
    assert len({link["vault_id"] for link in links}) == 2
    for link in links:
        assert api.state.secret_for(str(link["vault_id"]), str(link["remote_id"])) == token


def test_a_409_on_our_own_credential_is_adopted_and_pushed(
    api: RunningFake,
    store: Store,
    anthropic_client: anthropic.Anthropic,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.add_token("agents")
    assert _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)[0] == 0
    [link] = store.links("agents")
    links.remove(store, link.id)  # the index forgot it; the remote credential is still there
    new = rotate(store, "agents", grace=60).token
    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)
    assert code == 0, err
    [adopted] = store.links("agents")
    assert adopted.remote_id == link.remote_id
    assert api.state.secret_for(link.vault_id, str(link.remote_id)) == new
    assert len(_credentials(anthropic_client, link.vault_id)) == 1


def test_a_409_on_someone_elses_credential_stops_with_its_name(
    api: RunningFake,
    store: Store,
    anthropic_client: anthropic.Anthropic,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.add_token("agents")
    vault = anthropic_client.beta.vaults.create(display_name="shared")
    foreign = anthropic_client.beta.vaults.credentials.create(
        vault.id,
        auth={"type": "static_bearer", "mcp_server_url": URL, "token": "someone-elses"},
        display_name="hand made",
    )
    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", "shared", "--url", URL)
    assert code == 1
    [line] = err.strip().splitlines()
    assert foreign.id in line and "archive" in line
    assert api.state.secret_for(vault.id, foreign.id) == "someone-elses"
    assert store.links("agents") == []


def test_a_conflict_is_handled_at_once_even_when_the_server_allows_a_retry(
    api: RunningFake,
    store: Store,
    anthropic_client: anthropic.Anthropic,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The fake marks its 409s `x-should-retry: false`; the real API may not. This one says
    # "retry", so only the link's own max_retries=0 keeps the SDK from sending it again.
    store.add_token("agents")
    vault = anthropic_client.beta.vaults.create(display_name="shared")
    anthropic_client.beta.vaults.credentials.create(
        vault.id, auth={"type": "static_bearer", "mcp_server_url": URL, "token": "someone-elses"}
    )
    path = f"/v1/vaults/{vault.id}/credentials"
    api.state.fail_next("POST", path, 409, headers={"x-should-retry": "true"})
    before = len(api.state.requests)

    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", vault.id, "--url", URL)

    assert code == 1 and "not managed by this store" in err
    creates = [r for r in api.state.requests[before:] if (r.method, r.path) == ("POST", path)]
    assert len(creates) == 1


def test_link_takes_the_url_from_the_bridge_config(
    api: RunningFake, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.add_token("agents")
    config = tmp_path / "bridge.toml"
    config.write_text(f'[server]\nname = "inhouse"\npublic_url = "{URL}"\n')

    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", "v", "--config", str(config))
    assert code == 0, err
    [link] = _links(capsys)
    assert link["url"] == URL

    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", "v")
    assert code == 2
    [line] = err.strip().splitlines()
    assert "--url" in line and "--config" in line


def test_rotation_updates_every_linked_credential_in_place(
    api: RunningFake, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    old = store.add_token("agents").token
    for vault in ("a", "b"):
        assert _run(capsys, "remote", "link", "agents", "--vault", vault, "--url", URL)[0] == 0
    before = {link.id: link.remote_id for link in store.links("agents")}
    code, out, err = _run(capsys, "rotate", "agents", "--grace", "1h")
    assert code == 0, err
    new = out.strip().splitlines()[-1]
    assert new.startswith("mcpb_") and new != old
    after = store.links("agents")
    assert {link.id: link.remote_id for link in after} == before and len(after) == 2
    for link in after:
        assert link.pushed_version == 2
        assert api.state.secret_for(link.vault_id, str(link.remote_id)) == new
    with store.token_index() as verifier:
        assert verifier.verify(old) is not None and verifier.verify(new) is not None


def _closed_port() -> socket.socket:
    """A socket bound but not listening: connecting to its port is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.mark.parametrize(
    ("outage", "said"),
    [
        pytest.param("500", "answered 500", id="server-error"),
        pytest.param("429", "answered 429", id="rate-limited"),
        pytest.param("down", "cannot reach the Anthropic API", id="api-down"),
    ],
)
def test_a_failed_push_leaves_the_rotation_resumable_with_both_tokens_accepted(
    api: RunningFake,
    store: Store,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    outage: str,
    said: str,
) -> None:
    old = store.add_token("agents").token
    assert _run(capsys, "remote", "link", "agents", "--vault", "a", "--url", URL)[0] == 0
    [link] = store.links("agents")
    if outage == "down":
        with _closed_port() as refused:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{refused.getsockname()[1]}")
            code, out, err = _run(capsys, "rotate", "agents")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)  # the API is back
    else:
        rule = api.state.fail_next(  # the SDK's three attempts (two retries) all fail
            "POST", "/v1/vaults/*/credentials/*", int(outage), times=3,
            headers={"retry-after-ms": "1"},
        )  # fmt: skip
        code, out, err = _run(capsys, "rotate", "agents")
        assert rule.remaining == 0  # the API is back
    assert code == 1
    [line] = err.strip().splitlines()
    assert said in line and "mcp-vault rotate agents --resume" in line
    assert "mcpb_" not in out + err
    assert api.state.secret_for(link.vault_id, str(link.remote_id)) == old
    info = store.show("agents")
    [pending] = [v for v in info.versions if v.state == "pending"]
    assert info.rotation is not None and info.rotation.step == "push"
    pending_token = store.backend.get(store.service, store.value_key("agents", pending.version))
    assert pending_token is not None
    with store.token_index() as verifier:
        assert verifier.verify(old) is not None and verifier.verify(pending_token) is not None
    code, out, _ = _run(capsys, "doctor", "--json")
    assert code == 1
    [rotations] = [c for c in json.loads(out) if c["name"] == "rotations"]
    assert not rotations["ok"] and "mcp-vault rotate agents --resume" in rotations["detail"]

    code, out, err = _run(capsys, "rotate", "agents", "--resume")
    assert code == 0, err
    new = out.strip().splitlines()[-1]
    assert new == pending_token  # the value made before the outage, not a third one
    assert api.state.secret_for(link.vault_id, str(link.remote_id)) == new
    with store.token_index() as verifier:
        assert verifier.verify(new) is not None and verifier.verify(old) is not None
    assert _run(capsys, "doctor", "--public-url", URL)[0] == 0


def test_the_bridge_accepts_the_new_token_before_it_is_pushed(
    api: RunningFake, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    old = store.add_token("agents").token
    assert _run(capsys, "remote", "link", "agents", "--vault", "a", "--url", URL)[0] == 0
    accepted_when_pushed: list[tuple[bool, bool]] = []

    def at_push(request: httpx2.Request) -> None:
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        pushed = body.get("auth", {}).get("token")
        if request.method == "POST" and pushed:
            with store.token_index() as verifier:
                accepted_when_pushed.append(
                    (verifier.verify(pushed) is not None, verifier.verify(old) is not None)
                )

    http = httpx2.Client(event_hooks={"request": [at_push]})
    with anthropic.Anthropic(
        base_url=api.base_url, api_key=api.api_key, max_retries=0, http_client=http
    ) as client:
        install_pusher(store, client)
        try:
            new = rotate(store, "agents", grace=60).token
        finally:
            unregister_pusher("anthropic")

    assert accepted_when_pushed == [(True, True)]  # both the new and the old token
    [link] = store.links("agents")
    assert api.state.secret_for(link.vault_id, str(link.remote_id)) == new
    with store.token_index() as verifier:
        assert verifier.verify(old) is not None  # the grace window


def test_a_429_with_retry_after_is_retried(
    api: RunningFake, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store.add_token("agents")
    rule = api.state.fail_next("GET", "/v1/vaults", 429, times=1, headers={"retry-after": "0"})
    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)
    assert code == 0, err
    assert rule.remaining == 0


def test_a_bad_api_key_is_one_clear_line(
    api: RunningFake,
    store: Store,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.add_token("agents")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)
    assert code == 1
    [line] = err.strip().splitlines()
    assert "401" in line and "ANTHROPIC_API_KEY" in line and "sk-ant-wrong" not in line


def test_no_api_key_says_where_to_put_one(
    api: RunningFake,
    store: Store,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.add_token("agents")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, _, err = _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)
    assert code == 1
    [line] = err.strip().splitlines()
    assert "ANTHROPIC_API_KEY" in line and "anthropic-api-key" in line


def test_the_api_key_can_live_in_the_store(
    api: RunningFake,
    store: Store,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.add_token("agents")
    store.add_secret("anthropic-api-key", api.api_key)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)[0] == 0


def test_sync_is_idempotent_and_unlink_archives_the_remote_credential(
    api: RunningFake,
    store: Store,
    anthropic_client: anthropic.Anthropic,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = store.add_token("agents").token
    assert _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)[0] == 0
    [link] = store.links("agents")
    for _ in range(2):
        code, out, _ = _run(capsys, "remote", "sync")
        assert code == 0 and "pushed agents v1" in out
    assert api.state.secret_for(link.vault_id, str(link.remote_id)) == token
    code, out, err = _run(capsys, "remote", "unlink", "agents", "--vault", "v")
    assert code == 0, err
    assert store.links("agents") == []
    remote = anthropic_client.beta.vaults.credentials.retrieve(
        str(link.remote_id), vault_id=link.vault_id
    )
    assert remote.archived_at is not None


@pytest.mark.parametrize(
    ("public_url", "ok"),
    [
        pytest.param(URL, True, id="same"),
        pytest.param("HTTPS://Bridge.Example.com:443/mcp/", True, id="normalised"),
        pytest.param("https://bridge.example.com/sse", False, id="other-path"),
        pytest.param("https://bridge.example.com:8443/mcp", False, id="other-port"),
    ],
)
def test_doctor_checks_each_link_against_the_bridges_public_url(
    api: RunningFake,
    store: Store,
    capsys: pytest.CaptureFixture[str],
    public_url: str,
    ok: bool,
) -> None:
    store.add_token("agents")
    assert _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)[0] == 0
    code, out, _ = _run(capsys, "doctor", "--public-url", public_url, "--json")
    [check] = [c for c in json.loads(out) if c["name"].startswith("remote link")]
    assert check["ok"] is ok
    assert (code == 0) is ok


@pytest.mark.parametrize(
    ("gone", "said"),
    [
        pytest.param("archive", "archived", id="archived"),
        pytest.param("delete", "no longer exists", id="deleted"),
    ],
)
def test_doctor_notices_a_remote_credential_that_is_gone(
    api: RunningFake,
    store: Store,
    anthropic_client: anthropic.Anthropic,
    capsys: pytest.CaptureFixture[str],
    gone: str,
    said: str,
) -> None:
    store.add_token("agents")
    assert _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)[0] == 0
    [link] = store.links("agents")
    credentials = anthropic_client.beta.vaults.credentials
    getattr(credentials, gone)(str(link.remote_id), vault_id=link.vault_id)
    code, out, _ = _run(capsys, "doctor", "--json")
    [check] = [c for c in json.loads(out) if c["name"] == "remote link agents"]
    assert code == 1 and not check["ok"] and said in check["detail"]


def test_doctor_without_an_api_key_says_the_links_went_unchecked(
    api: RunningFake,
    store: Store,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.add_token("agents")
    assert _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)[0] == 0
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, out, _ = _run(capsys, "doctor", "--json")
    [check] = [c for c in json.loads(out) if c["name"].startswith("remote link")]
    assert code == 1 and not check["ok"]
    assert "cannot check 1 link(s)" in check["detail"] and "ANTHROPIC_API_KEY" in check["detail"]


def test_rotate_due_pushes_to_linked_vaults(
    api: RunningFake, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    unregister_pusher("anthropic")  # as in a fresh `mcp-vault rotate --due` process
    store.add_token("agents", rotate_every=0.001)  # due by the time it is linked
    assert _run(capsys, "remote", "link", "agents", "--vault", "v", "--url", URL)[0] == 0
    code, out, err = _run(capsys, "rotate", "--due", "--grace", "1h", "--json")
    assert code == 0, err
    assert [r["version"] for r in json.loads(out)] == [2]
    [link] = store.links("agents")
    assert link.pushed_version == 2
    assert api.state.secret_for(link.vault_id, str(link.remote_id)) == store.secret("agents")
