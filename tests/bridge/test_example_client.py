"""``examples/client.py`` against a live bridge, over both transports, as its docstring shows."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.bridge.conftest import RunningBridge

CLIENT = Path(__file__).resolve().parents[2] / "examples" / "client.py"


@pytest.fixture(scope="module")
def client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_client", CLIENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(client: ModuleType, monkeypatch: pytest.MonkeyPatch, token: str | None, *argv: str) -> int:
    if token is None:
        monkeypatch.delenv("MCP_BRIDGE_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MCP_BRIDGE_TOKEN", token)
    monkeypatch.setattr("sys.argv", ["client.py", *argv])
    return int(client.main())


@pytest.mark.parametrize("path", ["/mcp", "/sse"])
def test_the_client_lists_and_calls_a_tool_over_either_transport(
    start_bridge: Callable[..., RunningBridge],
    client: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    path: str,
) -> None:
    bridge = start_bridge()
    code = _run(client, monkeypatch, bridge.token, "--url", bridge.url + path)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "echo" in out.splitlines()[0]
    assert '"result": "hello from the example client"' in out

    args = json.dumps({"a": 2, "b": 3})
    code = _run(
        client,
        monkeypatch,
        bridge.token,
        "--url",
        bridge.url + path,
        "--tool",
        "add",
        "--args",
        args,
    )
    assert code == 0
    assert '"total": 5' in capsys.readouterr().out


def test_the_client_wants_its_token_from_the_environment(
    client: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(client, monkeypatch, None, "--url", "http://127.0.0.1:9/mcp") == 2
    assert "MCP_BRIDGE_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize("path", ["/mcp", "/sse"])
def test_a_refused_token_is_one_line_and_exit_1(
    start_bridge: Callable[..., RunningBridge],
    client: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    path: str,
) -> None:
    bridge = start_bridge()
    code = _run(client, monkeypatch, "mcpb_wrong", "--url", bridge.url + path)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("client: error: ") and len(err.strip().splitlines()) == 1
    assert "refused the token (HTTP 401)" in err and "mcpb_wrong" not in err
