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
