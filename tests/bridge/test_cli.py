"""`mcp-bridge` as a user runs it: check, tools, serve; bad input is one line and exit 2."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bridge.cli import main
from tests.bridge.conftest import TOOLBOX
from tests.fakes.server import RunningFake
from tests.support.live import free_socket
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


def test_a_bad_log_level_is_a_usage_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "bridge.toml"
    config.write_text(GOOD)
    code, _, err = _run(capsys, "serve", "--config", str(config), "--log-level", "loud")
    assert code == 2
    assert err.startswith("mcp-bridge: error: ") and "--log-level" in err
    assert len(err.strip().splitlines()) == 1


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
    code, out, _ = _run(capsys, "tools", "--config", str(config))
    rows = {line.split()[0]: line.split(maxsplit=3)[1:] for line in out.splitlines()}
    assert code == 0 and set(rows) == set(tools)
    assert rows["echo"][:2] == ["python:bridge_test_tools", "read-only"]
    assert rows["explode"][:2] == ["python:bridge_test_tools", "destructive"]


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


@pytest.mark.parametrize(
    ("grace", "seconds", "finishes"),
    [
        pytest.param("10s", 1.0, True, id="finishes-within-grace"),
        pytest.param("1s", 60.0, False, id="cut-off-after-grace"),
    ],
)
def test_sigterm_drains_in_flight_calls_for_at_most_the_grace(
    workdir: Path, grace: str, seconds: float, finishes: bool
) -> None:
    config = workdir / "bridge.toml"
    config.write_text(GOOD + f"\n[server.limits]\nshutdown_grace = '{grace}'\n")
    marker = workdir / "in-flight"
    with Store.open() as store:
        token = store.add_token("drain").token
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    results: list[object] = []
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        url = lines.until(r"Streamable HTTP: (\S+)").group(1)
        lines.until(r"Application startup complete")

        async def call_and_terminate() -> float | None:
            stopped_after = None
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
            # Once the server is gone the client's own shutdown fails to reach it; that is
            # expected here, what matters is measured inside.
            with contextlib.suppress(Exception):
                async with (
                    http,
                    Client(streamable_http_client(url, http_client=http)) as client,
                    anyio.create_task_group() as group,
                ):

                    async def hold() -> None:
                        arguments = {"marker": str(marker), "seconds": seconds}
                        results.append(await client.call_tool("hold", arguments))

                    # The client checks a result against the tool's output schema, which it
                    # lists on first use: list now, while the server still accepts connections.
                    await client.list_tools()
                    group.start_soon(hold)
                    with anyio.fail_after(10):
                        while not marker.exists():
                            await anyio.sleep(0.02)
                    started = time.monotonic()
                    proc.send_signal(signal.SIGTERM)
                    await anyio.to_thread.run_sync(proc.wait, 15)
                    stopped_after = time.monotonic() - started
                    if not finishes:
                        group.cancel_scope.cancel()  # its server is gone
            return stopped_after

        stopped_after = anyio.run(call_and_terminate)
        assert stopped_after is not None, lines.rest(within=1)
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete: -SIGTERM is clean.
        assert proc.returncode in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if finishes:
        assert [getattr(r, "structured_content", None) for r in results] == [{"result": "held"}]
    else:
        assert results == [] and stopped_after < 5


def test_a_port_in_use_is_one_line_and_exit_1(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "bridge.toml"
    config.write_text(GOOD)
    taken = free_socket()
    taken.listen()
    with taken:
        port = taken.getsockname()[1]
        code, out, err = _run(capsys, "serve", "--config", str(config), "--port", str(port))
    assert code == 1
    assert err.startswith(f"mcp-bridge: error: cannot listen on 127.0.0.1:{port}: ")
    assert "--port" in err and len(err.strip().splitlines()) == 1
    assert "serving" not in out


def test_a_serve_that_fails_after_binding_lets_go_of_its_port(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "bridge.toml"
    config.write_text(GOOD + '\n[auth]\ntokens = ["agents"]\n')
    with free_socket() as probe:
        port = probe.getsockname()[1]
    code, _, err = _run(capsys, "serve", "--config", str(config), "--port", str(port), "--demo")
    assert code == 2 and "auth.tokens" in err
    with socket.socket() as again:  # no SO_REUSEADDR: fails while anything still holds the port
        again.bind(("127.0.0.1", port))


STDIO_SERVER = Path(__file__).parent / "backends" / "stdio_server.py"


def _with_mcp_server(
    workdir: Path, record: Path, *, blocked: bool = False, base: str = GOOD
) -> Path:
    record.mkdir()
    if blocked:
        (record / "block").touch()  # the server exits at once, code 2
    config = workdir / "bridge.toml"
    config.write_text(
        base + f'\n[[tools.mcp]]\nname = "files"\nprefix = "files_"\nallow = ["echo", "add"]\n'
        f'command = ["{sys.executable}", "{STDIO_SERVER}", "{record}"]\n'
    )
    return config


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_check_and_tools_count_the_tools_of_a_proxied_mcp_server(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _with_mcp_server(workdir, workdir / "record")
    code, out, _ = _run(capsys, "tools", "--config", str(config), "--json")
    names = [row["name"] for row in json.loads(out)]
    assert code == 0 and {"files_echo", "files_add"} <= set(names)

    code, out, err = _run(capsys, "check", "--config", str(config))

    assert code == 0, err
    assert f": {len(names)} tools, public URL " in out
    # Every server started to read its tools was stopped again.
    pids = [int(p.stem.split("-")[1]) for p in (workdir / "record").glob("env-*.json")]
    assert pids and all(_gone(pid) for pid in pids)


def test_started_tools_names_a_source_that_is_down(tmp_path: Path) -> None:
    from bridge.config import load_config
    from bridge.errors import BridgeError
    from bridge.tools.loader import build_registry, started_tools
    from bridge.tools.secrets import StaticSecrets

    config = _with_mcp_server(tmp_path, tmp_path / "record", blocked=True, base="")
    registry = build_registry(load_config(config), StaticSecrets())

    assert started_tools(registry) == []
    with pytest.raises(BridgeError) as caught:
        started_tools(registry, require_healthy=True)

    assert str(caught.value).startswith("tool source 'mcp:files' is down after starting")


def test_attach_refuses_while_a_source_is_down_and_changes_nothing(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_api: RunningFake,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_api.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.base_url)
    config = _with_mcp_server(workdir, workdir / "record", blocked=True)

    code, out, err = _run(
        capsys,
        "attach", "--config", str(config), "--agent-name", "a", "--model", "claude-opus-4-8",
        "--environment", "env_x", "--vault", "team",
    )  # fmt: skip

    assert code == 1 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("mcp-bridge: error: tool source 'mcp:files' is down after starting")
    assert fake_api.state.requests == []


@pytest.mark.parametrize(
    ("server", "environ", "expected", "reachable"),
    [
        pytest.param(
            'public_url = "https://tools.example.com/mcp"',
            {},
            "https://tools.example.com/mcp",
            True,
            id="file",
        ),
        pytest.param(
            'public_url = "https://tools.example.com/mcp"',
            {"MCP_BRIDGE_PUBLIC_URL": "https://tunnel.example.net/mcp"},
            "https://tunnel.example.net/mcp",
            True,
            id="environment-over-file",
        ),
        pytest.param('host = "::1"\nport = 9100', {}, "http://[::1]:9100/mcp", False, id="derived"),
        pytest.param(
            "port = 9100",
            {"MCP_BRIDGE_PORT": "9200"},
            "http://127.0.0.1:9200/mcp",
            False,
            id="env-port",
        ),
    ],
)
def test_mcp_vault_takes_the_public_url_the_bridge_would_use(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_api: RunningFake,
    server: str,
    environ: dict[str, str],
    expected: str,
    reachable: bool,
) -> None:
    from vaults.cli import main as vault_main

    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_api.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.base_url)
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    config = tmp_path / "bridge.toml"
    config.write_text(f"[server]\n{server}\n")
    with Store.open() as store:
        store.add_token("agents")
    link = ["remote", "link", "agents", "--vault", "team", "--config", str(config), "--json"]

    assert vault_main(link) == 0
    assert json.loads(capsys.readouterr().out)["url"] == expected
    # A loopback URL linked to a vault is one Anthropic's cloud cannot call: doctor says so.
    code = vault_main(["doctor", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == (0 if reachable else 1), out
    assert ("is this machine only" in out) == (not reachable)
    # The bridge moved behind another URL: doctor sees it the way the bridge does.
    monkeypatch.setenv("MCP_BRIDGE_PUBLIC_URL", "https://moved.example.org/mcp")
    assert vault_main(["doctor", "--config", str(config)]) == 1
    assert "public_url https://moved.example.org/mcp" in capsys.readouterr().out


def test_mcp_vault_names_the_key_of_a_bad_bridge_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vaults.cli import main as vault_main

    config = tmp_path / "bridge.toml"
    config.write_text('[server]\npublic_url = "/mcp"\n')
    with Store.open() as store:
        store.init()

    code = vault_main(["doctor", "--config", str(config)])

    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert line.startswith(f"mcp-vault: error: --config: {config}: server.public_url: ")
