"""The bridge over real sockets: each test body runs over SSE and Streamable HTTP."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest
from mcp.types import TextContent

import vaults
from tests.bridge.conftest import RunningBridge, connect

pytestmark = pytest.mark.anyio

StartBridge = Callable[..., RunningBridge]


def _text(result: object) -> str:
    return "".join(b.text for b in result.content if isinstance(b, TextContent))  # type: ignore[attr-defined]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it has exited, it is just not reaped by its parent.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


async def _wait_gone(pids: list[int], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not all(_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, (
            f"processes still alive: {[p for p in pids if not _gone(p)]}"
        )
        await anyio.sleep(0.05)


async def _read_pids(pidfile: Path, within: float = 10.0) -> list[int]:
    deadline = time.monotonic() + within
    while not pidfile.exists() or not pidfile.read_text().endswith("\n"):
        assert time.monotonic() < deadline, "the command tool never started"
        await anyio.sleep(0.05)
    return [int(p) for p in pidfile.read_text().split()]


async def test_lists_tools_with_annotations(start_bridge: StartBridge, transport: str) -> None:
    bridge = start_bridge()
    async with connect(bridge, transport) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"echo", "add", "explode", "nap", "flood", "greet", "hang"} <= set(tools)
    assert tools["echo"].annotations is not None and tools["echo"].annotations.read_only_hint
    assert (
        tools["explode"].annotations is not None and tools["explode"].annotations.destructive_hint
    )
    assert tools["greet"].input_schema["properties"]["who"]["type"] == "string"


async def test_calls_sync_async_and_command_tools(
    start_bridge: StartBridge, transport: str
) -> None:
    bridge = start_bridge()
    async with connect(bridge, transport) as client:
        echoed = await client.call_tool("echo", {"text": "hi there"})
        added = await client.call_tool("add", {"a": 2, "b": 40})
        greeted = await client.call_tool("greet", {"who": "world; rm -rf /"})
    assert not echoed.is_error and echoed.structured_content == {"result": "hi there"}
    assert added.structured_content == {"total": 42, "terms": 2}
    assert not greeted.is_error
    assert _text(greeted).strip() == "hello world; rm -rf /"


async def test_tool_secret_is_injected_but_never_shown(
    start_bridge: StartBridge, transport: str
) -> None:
    bridge = start_bridge()
    bridge.store.add_secret("crm-key", "s3cr3t-crm-value")
    async with connect(bridge, transport) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("crm_key_length", {})
    assert "secrets" not in tools["crm_key_length"].input_schema.get("properties", {})
    assert result.structured_content == {"result": len("s3cr3t-crm-value")}


async def test_invalid_arguments_are_an_error_and_the_server_keeps_serving(
    start_bridge: StartBridge, transport: str
) -> None:
    bridge = start_bridge()
    async with connect(bridge, transport) as client:
        bad = await client.call_tool("add", {"a": "not a number", "b": 1})
        good = await client.call_tool("echo", {"text": "still here"})
    assert bad.is_error and "a" in _text(bad)
    assert good.structured_content == {"result": "still here"}


async def test_a_raising_tool_is_an_error_result_without_internals(
    start_bridge: StartBridge, transport: str
) -> None:
    bridge = start_bridge()
    async with connect(bridge, transport) as client:
        failed = await client.call_tool("explode", {"reason": "kaboom"})
        good = await client.call_tool("echo", {"text": "after"})
    assert failed.is_error and _text(failed) == "Error executing tool explode"
    assert "kaboom" not in _text(failed) and "RuntimeError" not in _text(failed)
    assert good.structured_content == {"result": "after"}


async def test_huge_output_is_truncated_with_a_notice(
    start_bridge: StartBridge, transport: str
) -> None:
    bridge = start_bridge()
    async with connect(bridge, transport) as client:
        result = await client.call_tool("flood", {"kib": 1024})
    text = _text(result)
    assert "truncated" in text
    assert len(text.encode()) < 70_000


async def test_a_hanging_command_times_out_and_its_processes_are_gone(
    start_bridge: StartBridge, transport: str, tmp_path: Path
) -> None:
    bridge = start_bridge()
    pidfile = tmp_path / "pids"
    async with connect(bridge, transport) as client:
        started = time.monotonic()
        result = await client.call_tool("hang", {"pidfile": str(pidfile)})
        elapsed = time.monotonic() - started
    assert result.is_error and "timed out" in _text(result)
    assert elapsed < 8
    await _wait_gone(await _read_pids(pidfile))


async def test_cancelling_a_call_kills_the_command(
    start_bridge: StartBridge, transport: str, tmp_path: Path
) -> None:
    bridge = start_bridge(
        """
    [[tools.command]]
    name = "hang_long"
    argv = ["{python}", "{hang}", "{{pidfile}}"]
    params = {{ pidfile = {{ type = "string" }} }}
    timeout = "60s"
    """.format(
            python=__import__("sys").executable, hang=Path(__file__).parent / "toolbox" / "hang.py"
        )
    )
    pidfile = tmp_path / "pids"
    async with connect(bridge, transport) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "hang_long", {"pidfile": str(pidfile)})
            pids = await _read_pids(pidfile)
            group.cancel_scope.cancel()
        await _wait_gone(pids)
        after = await client.call_tool("echo", {"text": "alive"})
    assert after.structured_content == {"result": "alive"}


async def test_scopes_filter_the_list_and_refuse_calls(
    start_bridge: StartBridge, transport: str
) -> None:
    bridge = start_bridge(token_name="narrow", scopes=("ec*", "greet"))
    async with connect(bridge, transport) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        refused = await client.call_tool("add", {"a": 1, "b": 2})
        allowed = await client.call_tool("echo", {"text": "ok"})
    assert names == {"echo", "greet"}
    assert refused.is_error and "Unknown tool" in _text(refused)
    assert allowed.structured_content == {"result": "ok"}


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="no-token"),
        pytest.param("Bearer not-a-token", id="malformed"),
        pytest.param("Basic dXNlcjpwYXNz", id="wrong-scheme"),
        pytest.param("Bearer mcpb_AAAAAAAAAAAA_" + "A" * 43 + "_AAAAAA", id="bad-checksum"),
    ],
)
async def test_requests_without_a_valid_token_get_401(
    start_bridge: StartBridge, header: str | None
) -> None:
    bridge = start_bridge()
    headers = {"Accept": "application/json, text/event-stream"}
    if header:
        headers["Authorization"] = header
    async with httpx.AsyncClient(base_url=bridge.url, headers=headers) as http:
        post = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        sse = await http.get("/sse")
    for response in (post, sse):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "mcpb_" not in response.text
        # The same body for every refusal: nothing tells a missing token from a wrong one.
        assert response.json() == {
            "error": "invalid_token",
            "error_description": "Authentication required",
        }


ENDPOINTS = ["sse", "http"]
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "status-probe", "version": "0"},
    },
}


async def _status(bridge: RunningBridge, token: str, endpoint: str = "http") -> int:
    """The HTTP status a fresh request with ``token`` gets from ``/sse`` or ``/mcp``."""
    async with httpx.AsyncClient(
        base_url=bridge.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        if endpoint == "sse":
            async with http.stream("GET", "/sse") as stream:
                return stream.status_code
        response = await http.post(
            "/mcp", json=INITIALIZE, headers={"Accept": "application/json, text/event-stream"}
        )
        return response.status_code


async def _wait_status(
    bridge: RunningBridge, token: str, status: int, within: float, endpoint: str = "http"
) -> float:
    started = time.monotonic()
    while (code := await _status(bridge, token, endpoint)) != status:
        assert time.monotonic() - started < within, f"still {code} after {within} s"
        await anyio.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_wrong_token_of_the_right_shape_gets_401(
    start_bridge: StartBridge, endpoint: str
) -> None:
    from vaults.tokens import generate

    bridge = start_bridge()
    assert await _status(bridge, generate(), endpoint) == 401
    assert await _status(bridge, bridge.token, endpoint) == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_revoked_token_is_refused_within_a_second(
    start_bridge: StartBridge, endpoint: str
) -> None:
    bridge = start_bridge()
    assert await _status(bridge, bridge.token, endpoint) == 200
    from vaults.cli import main as vault_main

    assert vault_main(["revoke", "agents"]) == 0
    await _wait_status(bridge, bridge.token, 401, within=1.0, endpoint=endpoint)


async def test_a_revoked_token_cannot_go_on_using_an_open_sse_session(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Authorization": f"Bearer {bridge.token}"}
    async with (
        httpx.AsyncClient(base_url=bridge.url, headers=headers) as http,
        http.stream("GET", "/sse") as stream,
    ):
        lines = stream.aiter_lines()
        async for line in lines:
            if line.startswith("data: /messages/"):
                messages = line.removeprefix("data: ")
                break
        assert (await http.post(messages, json=ping)).status_code == 202
        bridge.store.revoke("agents")
        started = time.monotonic()
        while (code := (await http.post(messages, json=ping)).status_code) != 401:
            assert code == 202 and time.monotonic() - started < 1.0, f"still {code}"
            await anyio.sleep(0.02)


async def test_rotation_keeps_both_tokens_through_grace_then_only_the_new(
    start_bridge: StartBridge, transport: str
) -> None:
    bridge = start_bridge()
    endpoint = "sse" if transport == "sse" else "http"
    old = bridge.token
    rotated = vaults.rotate(bridge.store, "agents", grace=1.0)
    new = rotated.token
    assert new is not None and new != old
    assert await _status(bridge, old, endpoint) == 200  # inside the grace window
    async with connect(bridge, transport, token=new) as client:
        assert (await client.call_tool("echo", {"text": "new"})).structured_content == {
            "result": "new"
        }
    await _wait_status(bridge, old, 401, within=3.0, endpoint=endpoint)
    async with connect(bridge, transport, token=new) as client:
        assert (await client.call_tool("echo", {"text": "after"})).structured_content == {
            "result": "after"
        }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_token_outside_auth_tokens_is_refused(
    start_bridge: StartBridge, endpoint: str
) -> None:
    bridge = start_bridge("""
    [auth]
    tokens = ["someone-else"]
    """)
    assert await _status(bridge, bridge.token, endpoint) == 401


async def test_health_ready_and_metrics_need_no_token(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    async with connect(bridge, "http") as client:
        await client.call_tool("echo", {"text": "count me"})
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert 'bridge_tool_calls_total{outcome="ok",tool="echo"} 1.0' in metrics.text


async def test_host_header_checks_and_body_cap(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    headers = {
        "Authorization": f"Bearer {bridge.token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient(base_url=bridge.url, headers=headers) as http:
        evil_host = await http.post("/mcp", json=body, headers={"Host": "evil.example"})
        evil_origin = await http.post("/mcp", json=body, headers={"Origin": "https://evil.example"})
        huge = await http.post(
            "/mcp",
            content=b'{"jsonrpc":"2.0","id":1,"method":"tools/list","pad":"'
            + b"x" * 2_000_000
            + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert evil_host.status_code == 421
    assert evil_origin.status_code == 403
    assert huge.status_code == 413


async def test_the_public_hosts_host_and_origin_are_allowed(start_bridge: StartBridge) -> None:
    bridge = start_bridge(public_url="https://bridge.example.com/mcp")
    headers = {
        "Authorization": f"Bearer {bridge.token}",
        "Accept": "application/json, text/event-stream",
    }
    async with httpx.AsyncClient(base_url=bridge.url, headers=headers) as http:
        public = await http.post(
            "/mcp",
            json=INITIALIZE,
            headers={"Host": "bridge.example.com", "Origin": "https://bridge.example.com"},
        )
        other = await http.post("/mcp", json=INITIALIZE, headers={"Host": "other.example.com"})
    assert public.status_code == 200
    assert other.status_code == 421


async def test_each_call_logs_one_line_with_caller_and_outcome_but_no_arguments_or_token(
    start_bridge: StartBridge, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    bridge = start_bridge()
    kid = bridge.token.split("_")[1]
    with caplog.at_level(logging.INFO, logger="bridge.calls"):
        async with connect(bridge, "http") as client:
            await client.call_tool("echo", {"text": "arg-value-never-logged"})
            await client.call_tool("explode", {"reason": "also-never-logged"})
    lines = [r.getMessage() for r in caplog.records if r.name == "bridge.calls"]
    assert len(lines) == 2
    assert f"caller=agents kid={kid} tool=echo" in lines[0] and "outcome=ok" in lines[0]
    assert "tool=explode" in lines[1] and "outcome=error" in lines[1]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "never-logged" not in everything and bridge.token not in everything


def _call(text: str, progress: bool = False, **meta: object) -> dict[str, object]:
    params: dict[str, object] = {"name": "echo", "arguments": {"text": text}}
    if progress:
        meta["progressToken"] = "p1"
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}


async def test_handshake_era_calls_get_json_unless_they_ask_for_progress(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    headers = {
        "Authorization": f"Bearer {bridge.token}",
        "Accept": "application/json, text/event-stream",
    }
    async with httpx.AsyncClient(base_url=bridge.url, headers=headers) as http:
        opened = await http.post("/mcp", json=INITIALIZE)
        headers = {
            "Mcp-Session-Id": opened.headers["mcp-session-id"],
            "MCP-Protocol-Version": "2025-11-25",
        }
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post("/mcp", json=note, headers=headers)).status_code == 202
        plain = await http.post("/mcp", json=_call("plain"), headers=headers)
        streamed = await http.post("/mcp", json=_call("streamed", progress=True), headers=headers)
        escaped = await http.post(
            "/mcp",
            content=json.dumps(_call("caf\u00e9")).encode(),
            headers={**headers, "Content-Type": "application/json"},
        )
    assert opened.headers["content-type"].startswith("text/event-stream")
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["result"]["structuredContent"] == {"result": "plain"}
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert '"structuredContent":{"result":"streamed"}' in streamed.text
    # A JSON escape could hide a progress token: such a request keeps the stream.
    assert escaped.headers["content-type"].startswith("text/event-stream")
