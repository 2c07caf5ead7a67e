"""`mcp-bridge` as a user runs it: check, tools, serve; bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bridge.cli import main
from tests.bridge.conftest import TOOLBOX
from tests.support.output import Lines
from vaults.store import Store

GOOD = """
[server]
name = "cli-test"

[[tools.python]]
module = "bridge_test_tools"
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "bridge_test_tools.py").write_text((TOOLBOX / "bridge_test_tools.py").read_text())
    with Store.open() as store:
        store.add_secret("crm-key", "crm-value-for-tests")
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("[server\nname=1", r"bridge\.toml: not valid TOML", id="bad-toml"),
        pytest.param("[server]\nnmae = 'x'", r"bridge\.toml: server\.nmae: ", id="unknown-key"),
        pytest.param("[server]\nport = 'eighty'", r"bridge\.toml: server\.port: ", id="bad-type"),
        pytest.param(
            "[server]\npublic_url = '/mcp'", r"server\.public_url: .*absolute", id="relative-url"
        ),
        pytest.param(
            "[[tools.python]]\nmodule = 'no_such_module_here'",
            r"no_such_module_here",
            id="missing-module",
        ),
        pytest.param(
            "[[tools.command]]\nname='x'\nargv=['true']\nenv={K='vault:absent-secret'}",
            r"absent-secret",
            id="missing-vault-secret",
        ),
        pytest.param(
            GOOD + "\n[[tools.command]]\nname = 'echo'\nargv = ['true']",
            r"echo",
            id="duplicate-tool",
        ),
    ],
)
@pytest.mark.parametrize("command", ["check", "serve"])
def test_a_bad_config_is_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str, command: str
) -> None:
    config = workdir / "bridge.toml"
    config.write_text(text)
    code, _, err = _run(capsys, command, "--config", str(config))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mcp-bridge: error: ")
    assert lines[0].count("bridge.toml") <= 1, lines[0]
    assert re.search(expected, lines[0]), lines[0]
    assert "Traceback" not in err


def test_a_missing_config_file_says_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "check", "--config", str(tmp_path / "nope.toml"))
    assert code == 2
    assert "--config" in err and "MCP_BRIDGE_CONFIG" in err


def test_check_and_tools_on_a_good_config(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "bridge.toml"
    config.write_text(GOOD)
    code, out, _ = _run(capsys, "check", "--config", str(config))
    assert code == 0 and out.startswith("ok: ")
    code, out, _ = _run(capsys, "tools", "--config", str(config), "--json")
    tools = {row["name"]: row for row in json.loads(out)}
    assert code == 0
    assert tools["echo"]["read_only"] and tools["explode"]["destructive"]


def test_the_config_can_come_from_the_environment(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = workdir / "bridge.toml"
    config.write_text(GOOD)
    monkeypatch.setenv("MCP_BRIDGE_CONFIG", str(config))
    code, out, _ = _run(capsys, "check")
    assert code == 0 and str(config) in out


def test_every_documented_command_and_option_exists(capsys: pytest.CaptureFixture[str]) -> None:
    documented = {
        "serve": ["--config", "--host", "--port"],
        "tools": ["--config", "--json"],
        "check": ["--config"],
        "attach": [
            "--config",
            "--agent-name",
            "--model",
            "--environment",
            "--vault",
            "--title",
            "--json",
        ],
    }
    for command, options in documented.items():
        code, out, _ = _run(capsys, command, "--help")
        assert code == 0, command
        for option in options:
            assert option in out, f"{command} {option}"


def test_sigterm_lets_an_in_flight_call_finish_then_exits(workdir: Path) -> None:
    config = workdir / "bridge.toml"
    config.write_text(GOOD + "\n[server.limits]\nshutdown_grace = '10s'\n")
    with Store.open() as store:
        token = store.add_token("drain").token
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        url = lines.until(r"Streamable HTTP: (\S+)").group(1)
        lines.until(r"Application startup complete")

        async def call_and_terminate() -> object:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
            async with http, Client(streamable_http_client(url, http_client=http)) as client:
                await client.list_tools()
                async with anyio.create_task_group() as group:
                    results: list[object] = []

                    async def nap() -> None:
                        results.append(await client.call_tool("nap", {"seconds": 1.5}))

                    group.start_soon(nap)
                    await anyio.sleep(0.5)
                    proc.send_signal(signal.SIGTERM)
                return results[0]

        result = anyio.run(call_and_terminate)
        assert getattr(result, "structured_content", None) == {"result": "rested"}
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete: -SIGTERM is clean.
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
