"""``mcp-bridge check`` on ``[[tools.openapi]]``: selection, collisions, secrets, a spec URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.tools.loader import build_registry, check_config
from bridge.tools.secrets import StaticSecrets
from tests.bridge.configs import load_toml
from tests.bridge.tools.openapi.support import (
    SECRET,
    late_toml,
)
from tests.support.live import free_socket

pytestmark = pytest.mark.anyio


def test_check_finds_selection_mistakes_collisions_and_missing_secrets(
    tmp_path: Path, spec_file: Path
) -> None:
    config = load_toml(
        tmp_path,
        f"""
[[tools.command]]
name = "report"
argv = ["true"]

[[tools.openapi]]
name = "inventory"
spec = "{spec_file}"
base_url = "http://inv/api"
bearer = "vault:inventory-key"
include = ["report", "nothing*"]
rename = {{ ghost = "spirit" }}
""",
    )
    problems = check_config(config, StaticSecrets())
    assert any("tools.openapi[0].bearer" in p and "inventory-key" in p for p in problems)
    assert any("tools.openapi[0].include" in p and "'nothing*'" in p for p in problems)
    assert any("tools.openapi[0].rename.ghost" in p for p in problems)
    assert any(
        "'report' is defined by tools.command[0] and tools.openapi[0]" in p for p in problems
    )
    assert len(problems) == 4


def test_check_reports_a_spec_url_that_cannot_be_fetched_and_serve_still_builds(
    tmp_path: Path,
) -> None:
    with free_socket() as sock:
        config = load_toml(tmp_path, late_toml(sock.getsockname()[1]))
        secrets = StaticSecrets({"inventory-key": SECRET})
        problems = check_config(config, secrets)
        (source,) = build_registry(config, secrets).sources
    assert len(problems) == 1
    assert "tools.openapi[0].spec: cannot fetch http://127.0.0.1:" in problems[0]
    assert "ConnectError" in problems[0]
    assert source.tools() == [] and not source.healthy()
