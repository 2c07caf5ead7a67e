"""The tunnel's token and certificates rotate through ``mcp-vault rotate``: found through entry
points (a real mcp-vault process), with overlap, resumable after a SIGKILL at any step."""

from __future__ import annotations

import signal
import time
import tomllib

import pytest

from bridge.tunnel import deployment, inspection
from tests.bridge.tunnel.conftest import CERTS, TOKEN, Workspace
from tests.fakes.managed_agents.tunnels import TrafficRefused
from tests.vaults._vault import run_cli


@pytest.fixture
def up(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> Workspace:
    code, _, err = workspace.run(capsys, "tunnel", "up")
    assert code == 0, err
    return workspace


def _tunnel(ws: Workspace) -> tuple[str, str]:
    [tunnel_id] = ws.api.state.tunnels.tunnel_ids()
    return tunnel_id, tomllib.loads(ws.config.read_text())["server"]["public_url"]


def _server_pem(ws: Workspace) -> str:
    return (ws.folder / deployment.SERVER_CERT).read_text()


def test_the_token_rotates_once_and_reaches_the_folder(up: Workspace) -> None:
    tunnels = up.api.state.tunnels
    tunnel_id, _ = _tunnel(up)
    before = tunnels.token_of(tunnel_id)

    done = run_cli("rotate", TOKEN)

    assert done.returncode == 0, done.stderr
    assert tunnels.token_rotations == 1
    token = tunnels.token_of(tunnel_id)
    assert token != before and deployment.read_token(up.folder) == token
    assert token not in done.stdout + done.stderr


@pytest.mark.parametrize("point", ["start", "generate", "create", "push", "test", "finish"])
def test_a_killed_token_rotation_resumes_without_rotating_twice(up: Workspace, point: str) -> None:
    tunnels = up.api.state.tunnels
    tunnel_id, _ = _tunnel(up)

    killed = run_cli("rotate", TOKEN, MCP_VAULT_CRASH_AFTER=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = run_cli("rotate", TOKEN, "--resume")

    if point == "finish":
        assert resumed.returncode == 1 and "nothing to resume" in resumed.stderr
    else:
        assert resumed.returncode == 0, resumed.stderr
    assert tunnels.token_rotations == 1
    assert deployment.read_token(up.folder) == tunnels.token_of(tunnel_id)
    with up.store() as store:
        assert store.secret(TOKEN) == tunnels.token_of(tunnel_id)
        assert store.show(TOKEN).rotation is None


def test_certificates_rotate_with_overlap_then_the_old_ca_is_archived(up: Workspace) -> None:
    tunnels = up.api.state.tunnels
    tunnel_id, url = _tunnel(up)
    old_server = _server_pem(up)

    done = run_cli("rotate", CERTS, "--grace", "1s")

    assert done.returncode == 0, done.stderr
    new_server = _server_pem(up)
    assert new_server != old_server
    assert len(tunnels.active_certificates(tunnel_id)) == 2
    assert tunnels.route(url, new_server) == tunnel_id
    assert tunnels.route(url, old_server) == tunnel_id  # a replica not yet updated still works
    assert inspection.inspect(up.folder, url.split("/")[2]) == []
    time.sleep(1.1)  # the grace window is one second; --due retires what has passed it
    due = run_cli("rotate", "--due")
    assert due.returncode == 0, due.stderr
    assert len(tunnels.active_certificates(tunnel_id)) == 1
    with pytest.raises(TrafficRefused):
        tunnels.route(url, old_server)
    assert tunnels.route(url, new_server) == tunnel_id
    with up.store() as store:
        actions = [row.action for row in store.audit() if row.credential == CERTS]
    assert "rotate.retire" in actions and "rotate.retire-push" in actions


def test_a_third_ca_makes_room_so_at_most_two_are_live(up: Workspace) -> None:
    tunnels = up.api.state.tunnels
    tunnel_id, url = _tunnel(up)
    for _ in range(3):
        done = run_cli("rotate", CERTS, "--grace", "1h")
        assert done.returncode == 0, done.stderr
        assert len(tunnels.active_certificates(tunnel_id)) == 2
    assert tunnels.route(url, _server_pem(up)) == tunnel_id


@pytest.mark.parametrize("point", ["create", "push", "finish", "retire"])
def test_a_killed_certificate_rotation_is_finished_by_a_rerun(up: Workspace, point: str) -> None:
    tunnels = up.api.state.tunnels
    tunnel_id, url = _tunnel(up)

    killed = run_cli("rotate", CERTS, "--grace", "0s", MCP_VAULT_CRASH_AFTER=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if point in ("create", "push"):
        resumed = run_cli("rotate", CERTS, "--resume", "--grace", "0s")
        assert resumed.returncode == 0, resumed.stderr
    finished = run_cli("rotate", "--due")
    assert finished.returncode == 0, finished.stderr

    [live] = tunnels.active_certificates(tunnel_id)
    assert tunnels.route(url, _server_pem(up)) == tunnel_id
    assert inspection.inspect(up.folder, url.split("/")[2]) == []
    with up.store() as store:
        info = store.show(CERTS)
        assert info.rotation is None and info.current is not None
        assert info.current.version == 2
    assert live["fingerprint"]
