"""``tunnel status``, ``tunnel down``, and the Tunnels API's refusals as one line each."""

from __future__ import annotations

import textwrap
import tomllib

import anthropic
import pytest

from bridge.app import create_app
from bridge.config import load_config
from bridge.tools.loader import build_registry
from tests.bridge.tunnel.conftest import CERTS, TOKEN, Workspace
from tests.support.live import free_socket, serve
from vaults.errors import NotFoundError


def _use_port(ws: Workspace, port: int) -> None:
    ws.config.write_text(ws.config.read_text().replace("port = 8765", f"port = {port}"))


def test_status_checks_every_part_and_finds_the_bridge(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = free_socket()
    _use_port(workspace, sock.getsockname()[1])
    assert workspace.run(capsys, "tunnel", "up", "--vault", "team")[0] == 0

    code, out, _ = workspace.run(capsys, "tunnel", "status")
    assert code == 1 and "FAIL  bridge:" in out and "start mcp-bridge serve" in out

    config = load_config(workspace.config)
    with workspace.store() as store, store.token_index(config.auth.tokens) as verifier:
        app = create_app(config, build_registry(config, store.secret_resolver()), verifier)
        with serve(app, sock=sock):
            code, out, err = workspace.run(capsys, "tunnel", "status")
    assert code == 0, out + err
    for part in (
        "tunnel",
        "registered CAs",
        "current CA",
        f"certificates {CERTS}",
        "tunnel token",
        "folder",
        "public URL",
        "vault credential agents",
        "bridge",
    ):
        assert f"ok    {part}:" in out, (part, out)


def test_status_reports_a_moved_public_url_and_a_stale_env(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.run(capsys, "tunnel", "up")[0] == 0
    text = workspace.config.read_text()
    url = tomllib.loads(text)["server"]["public_url"]
    workspace.config.write_text(text.replace(url, "https://elsewhere.example.com/mcp"))
    (workspace.folder / ".env").write_text("TUNNEL_TOKEN=stale\n")

    code, out, _ = workspace.run(capsys, "tunnel", "status")

    assert code == 1
    assert "FAIL  public URL: https://elsewhere.example.com/mcp, not the tunnel URL" in out
    assert "FAIL  tunnel token:" in out and ".env differs" in out


def test_down_asks_then_archives_for_ever(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.run(capsys, "tunnel", "up")[0] == 0
    [tunnel_id] = workspace.api.state.tunnels.tunnel_ids()

    code, _, err = workspace.run(capsys, "tunnel", "down")
    assert code == 1 and "gone for ever" in err and "--yes" in err
    code, out, err = workspace.run(capsys, "tunnel", "down", "--yes")

    assert code == 0, err
    assert "retired for ever" in out
    assert workspace.api.state.tunnels.token_of(tunnel_id) is None
    assert "id =" not in workspace.config.read_text()
    assert not (workspace.folder / ".env").exists()
    with workspace.store() as store:
        for name in (TOKEN, CERTS):
            with pytest.raises(NotFoundError):
                store.show(name)
    code, out, err = workspace.run(capsys, "tunnel", "up")
    assert code == 0, err
    assert len(workspace.api.state.tunnels.tunnel_ids()) == 2  # a new tunnel, a new hostname


@pytest.mark.parametrize(
    ("method", "path", "status", "expected"),
    [
        pytest.param("GET", "/v1/tunnels", 401, "workspace:manage_tunnels", id="401"),
        pytest.param("GET", "/v1/tunnels", 403, "member of the tunnel's workspace", id="403"),
        pytest.param("POST", "/v1/tunnels", 429, "rate limited", id="429"),
        pytest.param("POST", "/v1/tunnels", 500, "answered 500", id="500"),
    ],
)
def test_an_api_refusal_is_one_line(
    workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    method: str,
    path: str,
    status: int,
    expected: str,
) -> None:
    workspace.api.state.fail_next(method, path, status, times=3)

    code, _, err = workspace.run(capsys, "tunnel", "up")

    assert code == 1
    assert len(err.strip().splitlines()) == 1 and expected in err, err
    assert workspace.api.state.tunnels.tunnel_ids() == []
    assert "Traceback" not in err


def test_a_transient_500_on_a_read_is_retried(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.api.state.fail_next("GET", "/v1/tunnels", 500, headers={"retry-after": "0"})

    code, _, err = workspace.run(capsys, "tunnel", "up")

    assert code == 0, err


def test_a_tunnel_of_another_workspace_is_a_404_that_says_so(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], anthropic_client: anthropic.Anthropic
) -> None:
    other = anthropic_client.beta.tunnels.create(display_name="inhouse", workspace_id="wrkspc_b")
    workspace.config.write_text(
        workspace.config.read_text() + textwrap.dedent(f'\n[tunnel]\nid = "{other.id}"\n')
    )

    code, _, err = workspace.run(capsys, "tunnel", "up")

    assert code == 1 and "404" in err and "workspace-scoped" in err
    workspace.config.write_text(workspace.config.read_text() + 'workspace = "wrkspc_b"\n')
    code, _, err = workspace.run(capsys, "tunnel", "up")
    assert code == 0, err


def test_two_foreign_certificates_leave_no_room(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], anthropic_client: anthropic.Anthropic
) -> None:
    from bridge.tunnel import certificates

    tunnel = anthropic_client.beta.tunnels.create(display_name="inhouse")
    for _ in range(2):
        pem = certificates.generate(tunnel.domain).ca_cert_pem
        anthropic_client.beta.tunnels.certificates.create(tunnel.id, ca_certificate_pem=pem)

    code, _, err = workspace.run(capsys, "tunnel", "up")

    assert code == 1 and "two CA certificates that this store did not register" in err


def test_a_409_on_a_certificate_says_what_to_do(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.api.state.fail_next("POST", "/v1/tunnels/*/certificates", 409)

    code, _, err = workspace.run(capsys, "tunnel", "up")

    assert code == 1 and "answered 409" in err and "archive one" in err, err
    assert workspace.run(capsys, "tunnel", "up")[0] == 0
