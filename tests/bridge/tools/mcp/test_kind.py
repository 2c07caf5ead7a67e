"""``mcp-bridge check`` on ``[[tools.mcp]]``: static problems, and what a probe finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.tools.loader import check_config
from bridge.tools.secrets import StaticSecrets
from tests.bridge.configs import load_toml
from tests.bridge.tools.mcp.support import (
    stdio_toml,
)

pytestmark = pytest.mark.anyio


def test_check_reports_a_missing_program_and_a_missing_secret(tmp_path: Path) -> None:
    config = load_toml(
        tmp_path,
        """
[[tools.mcp]]
name = "files"
command = ["no-such-program-anywhere"]
env = { API_TOKEN = "vault:files-token" }
""",
    )
    problems = check_config(config, StaticSecrets(), probe=True)
    assert any("tools.mcp[0].command" in p and "not on PATH" in p for p in problems)
    assert any("tools.mcp[0].env.API_TOKEN" in p and "files-token" in p for p in problems)


def test_check_with_probe_finds_collisions_and_curation_mistakes(
    tmp_path: Path, record: Path
) -> None:
    config = load_toml(
        tmp_path,
        f"""
[[tools.command]]
name = "echo"
argv = ["true"]
{stdio_toml(record).replace('prefix = "files_"', 'rename = { nope = "x" }')}
""",
    )
    secrets = StaticSecrets({"files-token": "child-secret-value"})
    problems = check_config(config, secrets, probe=True)
    without_probe = check_config(config, secrets)
    assert any("'echo' is defined by tools.command[0] and tools.mcp[0]" in p for p in problems)
    assert any("tools.mcp[0].rename.nope" in p for p in problems)
    assert without_probe == []


def test_check_with_probe_reports_a_server_that_cannot_start(tmp_path: Path, record: Path) -> None:
    (record / "block").touch()
    config = load_toml(tmp_path, stdio_toml(record))
    problems = check_config(config, StaticSecrets({"files-token": "v"}), probe=True)
    assert len(problems) == 1 and "tools.mcp[0]: cannot list the tools" in problems[0]
