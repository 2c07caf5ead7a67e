"""``mcp-bridge check`` and ``mcp-vault doctor`` report a public URL no tunnel or proxy serves,
a loopback URL linked to an Anthropic vault, and certificates that expire within 14 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.tunnel.status import bundle_checks
from tests.bridge.tunnel.conftest import CERTS, Workspace


def test_check_warns_about_plain_http_to_another_host(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    text = workspace.config.read_text()
    workspace.config.write_text(text.replace("port = 8765", 'public_url = "http://10.1.2.3/mcp"'))

    code, out, err = workspace.run(capsys, "check")

    assert code == 0 and out.startswith("ok:")
    assert "warning: public_url http://10.1.2.3/mcp is plain http to 10.1.2.3" in err


def test_check_and_doctor_flag_a_loopback_url_linked_to_a_vault(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from vaults.cli import main as vault_main

    assert vault_main(["remote", "link", "agents", "--vault", "team", "--config",
                       str(workspace.config)]) == 0  # fmt: skip
    capsys.readouterr()

    code, _, err = workspace.run(capsys, "check")
    assert code == 0 and "is this machine only, yet an Anthropic vault credential" in err
    assert vault_main(["doctor", "--config", str(workspace.config)]) == 1
    assert "FAIL  remote link agents: http://127.0.0.1:8765/mcp is this machine only" in (
        capsys.readouterr().out
    )

    assert workspace.run(capsys, "tunnel", "up")[0] == 0
    assert workspace.run(capsys, "check")[2] == ""
    assert vault_main(["doctor", "--config", str(workspace.config)]) == 0
    out = capsys.readouterr().out
    assert f"ok    certificates {CERTS}: server certificate expires" in out


def test_a_bundle_expiring_within_14_days_fails_its_check(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace.run(capsys, "tunnel", "up")[0] == 0
    with workspace.store() as store:
        [soon] = bundle_checks(store, CERTS, now=datetime.now(UTC) + timedelta(days=80))
        [gone] = bundle_checks(store, CERTS, now=datetime.now(UTC) + timedelta(days=91))
    assert not soon.ok and "(10 days)" in soon.detail and "mcp-vault rotate" in soon.detail
    assert not gone.ok and "EXPIRED" in gone.detail
