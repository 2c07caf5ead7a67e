"""``mcp-bridge tunnel up``: create or adopt, write the folder, set the URL, link the vault."""

from __future__ import annotations

import stat
import tomllib

import pytest

from bridge.tunnel import deployment, inspection
from bridge.tunnel.certificates import Bundle
from tests.bridge.tunnel.conftest import CERTS, TOKEN, Workspace


def _tunnel_url(ws: Workspace) -> str:
    return tomllib.loads(ws.config.read_text())["server"]["public_url"]


def test_up_creates_the_tunnel_and_a_ready_folder(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = workspace.run(capsys, "tunnel", "up")

    assert code == 0, err
    tunnels = workspace.api.state.tunnels
    [tunnel_id] = tunnels.tunnel_ids()
    url = _tunnel_url(workspace)
    assert url.startswith("https://inhouse.") and url.endswith(".tunnel.anthropic.com/mcp")
    assert f"tunnel {tunnel_id}: {url}" in out and "docker compose up -d" in out
    text = workspace.config.read_text()
    assert "# The in-house bridge. Comments like this one survive" in text
    assert "# the bridge's token" in text and f'id = "{tunnel_id}"' in text
    hostname = url.split("/")[2]
    assert inspection.inspect(workspace.folder, hostname) == []
    server_pem = (workspace.folder / deployment.SERVER_CERT).read_text()
    assert tunnels.route(url, server_pem) == tunnel_id
    assert deployment.read_token(workspace.folder) == tunnels.token_of(tunnel_id)
    for secret in (".env", "data/tls.key"):
        assert stat.S_IMODE((workspace.folder / secret).stat().st_mode) == 0o600
    assert (workspace.folder / ".gitignore").read_text() == ".env\ndata/\n"
    with workspace.store() as store:
        assert store.secret(TOKEN) == tunnels.token_of(tunnel_id)
        bundle = Bundle.from_value(store.secret(CERTS))
        assert bundle.server_cert_pem == server_pem
        assert store.show(CERTS).generator == "mcp-tunnel-certs"
    token = tunnels.token_of(tunnel_id)
    assert token is not None and token not in out + err


def test_a_second_up_changes_nothing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.run(capsys, "tunnel", "up")[0] == 0
    config = workspace.config.read_text()
    files = {p: p.read_bytes() for p in workspace.folder.rglob("*") if p.is_file()}
    requests = len(workspace.api.state.requests)

    code, out, err = workspace.run(capsys, "tunnel", "up")

    assert code == 0, err
    assert "nothing to change" in out
    assert workspace.config.read_text() == config
    assert {p: p.read_bytes() for p in workspace.folder.rglob("*") if p.is_file()} == files
    tunnels = workspace.api.state.tunnels
    [tunnel_id] = tunnels.tunnel_ids()
    assert len(tunnels.active_certificates(tunnel_id)) == 1
    posts = [r for r in workspace.api.state.requests[requests:] if r.method == "POST"]
    assert [r.path for r in posts if not r.path.endswith("reveal_token")] == []


def test_up_adopts_a_tunnel_by_its_display_name(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], anthropic_client
) -> None:
    existing = anthropic_client.beta.tunnels.create(display_name="inhouse")

    code, out, err = workspace.run(capsys, "tunnel", "up")

    assert code == 0, err
    assert workspace.api.state.tunnels.tunnel_ids() == [existing.id]
    assert f'id = "{existing.id}"' in workspace.config.read_text()
    assert "created tunnel" not in out
    assert _tunnel_url(workspace) == f"https://inhouse.{existing.domain}/mcp"


def test_up_after_a_crash_finishes_on_the_same_tunnel(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.api.state.fail_next(
        "POST", "/v1/tunnels/*/certificates", 500, headers={"x-should-retry": "false"}
    )
    code, _, err = workspace.run(capsys, "tunnel", "up")
    assert code == 1 and "registering a CA certificate" in err and "500" in err
    [tunnel_id] = workspace.api.state.tunnels.tunnel_ids()
    assert f'id = "{tunnel_id}"' in workspace.config.read_text()

    code, _, err = workspace.run(capsys, "tunnel", "up")

    assert code == 0, err
    assert workspace.api.state.tunnels.tunnel_ids() == [tunnel_id]
    hostname = _tunnel_url(workspace).split("/")[2]
    assert inspection.inspect(workspace.folder, hostname) == []


def test_up_links_and_relinks_the_vault_credential_to_the_tunnel_url(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from vaults.cli import main as vault_main

    old = "http://127.0.0.1:8765/mcp"
    assert vault_main(["remote", "link", "agents", "--vault", "team", "--url", old]) == 0
    capsys.readouterr()
    credentials = workspace.api.state.credentials

    code, out, err = workspace.run(capsys, "tunnel", "up")

    assert code == 0, err
    url = _tunnel_url(workspace)
    assert "re-linked agents in " in out and f"{old} -> {url}" in out
    with workspace.store() as store:
        [link] = store.links("agents")
        assert link.url == url
        token = store.secret("agents")
        actions = [row.action for row in store.audit() if row.credential == "agents"]
    vault_id = link.vault_id
    assert credentials.resolve_credential([vault_id], url) is not None
    assert credentials.resolve_credential([vault_id], old) is None
    assert workspace.api.state.secret_for(vault_id, link.remote_id) == token
    assert actions.count("link.remove") == 1 and actions.count("link.add") == 2


def test_up_with_a_vault_links_the_bridge_token(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = workspace.run(capsys, "tunnel", "up", "--vault", "team")

    assert code == 0, err
    url = _tunnel_url(workspace)
    with workspace.store() as store:
        [link] = store.links("agents")
    assert link.url == url and f"linked agents -> {link.vault_id}" in out
    assert workspace.api.state.resolve_credential([link.vault_id], url) is not None
