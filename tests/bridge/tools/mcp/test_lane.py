"""Tool calls on the call lane (``bridge.tools.mcp.lane``) keep the SDK session's contract, on
the bridge's stdio pipe (``bridge.tools.mcp.pipe``).

The upstream is a real child process speaking JSON-RPC on stdio, scripted per tool call (its
argument ``do`` says what to answer), behind a real ``McpSource``; it writes every
``notifications/cancelled`` it hears to ``cancelled.jsonl``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from mcp import MCPError
from pydantic import ValidationError

from bridge.tools.mcp.config import McpToolsConfig
from bridge.tools.mcp.lane import CallLane
from bridge.tools.mcp.source import McpSource
from bridge.tools.registry import CallContext, ToolSpec
from bridge.tools.secrets import StaticSecrets
from tests.bridge.tools.mcp.support import text

pytestmark = pytest.mark.anyio

SCRIPTED_SERVER = r"""
import json, os, sys, threading, time
RECORD = sys.argv[1]
with open(RECORD + "/pid", "w") as out:
    out.write(str(os.getpid()))
SCHEMA = {"type": "object", "properties": {"do": {"type": "string"}}}
TOOL = {"name": "probe", "inputSchema": SCHEMA}

def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()

def answer(request):
    do = request["params"]["arguments"]["do"]
    reply = {"jsonrpc": "2.0", "id": request["id"]}
    if do == "error":
        reply["error"] = {"code": -32042, "message": "not today", "data": {"why": "closed"}}
    elif do == "late":
        time.sleep(2.0)
        reply["result"] = {"content": [{"type": "text", "text": "late"}]}
    elif do == "hang":
        return
    elif do == "input_required":
        reply["result"] = {"content": [], "resultType": "input_required", "inputRequests": {}}
    elif do == "listy":
        reply["result"] = {"content": [], "structuredContent": [1, 2]}
    elif do == "big":  # one line far longer than a read
        reply["result"] = {"content": [{"type": "text", "text": "x" * 1_000_000}]}
    elif do == "garbage":  # a line that is no JSON-RPC message, then the answer
        sys.stdout.write("not json at all, with a \"bridge-1\" in it\n")
        reply["result"] = {"content": [{"type": "text", "text": "after garbage"}]}
    elif do == "deep_line":  # nested past json's recursion limit, with a lane-like id in it
        sys.stdout.write('{"id": "bridge-0", "x": ' + "[" * 100000 + "]" * 100000 + "}\n")
        reply["result"] = {"content": [{"type": "text", "text": "after deep line"}]}
    elif do == "deep_result":  # decodes, but nested deeper than pydantic serialises
        deep = json.loads("[" * 400 + "]" * 400)
        reply["result"] = {"content": [], "structuredContent": {"a": deep}}
    elif do == "shapeless":  # an answer with neither result nor error
        send(reply)
        return
    elif do == "ask_first":  # a request of the server's own, with an id like the lane's
        send({"jsonrpc": "2.0", "id": "bridge-1", "method": "ping"})
        reply["result"] = {"content": [{"type": "text", "text": "asked"}]}
    else:
        reply["result"] = {"content": [{"type": "text", "text": "did " + do}]}
    send(reply)

for line in sys.stdin:
    message = json.loads(line)
    method = message.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": message["id"], "result": {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}}, "serverInfo": {"name": "scripted", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [TOOL]}})
    elif method == "tools/call":
        threading.Thread(target=answer, args=(message,), daemon=True).start()
    elif method == "notifications/cancelled":
        with open(RECORD + "/cancelled.jsonl", "a") as out:
            out.write(json.dumps(message["params"]) + "\n")
"""


@pytest.fixture
async def probe(tmp_path: Path) -> AsyncIterator[tuple[McpSource, ToolSpec, Path]]:
    server = tmp_path / "scripted.py"
    server.write_text(SCRIPTED_SERVER)
    cfg = McpToolsConfig(name="scripted", command=(sys.executable, str(server), str(tmp_path)))
    source = McpSource(cfg, tmp_path, StaticSecrets())
    await source.start()
    try:
        assert source.healthy(), source.error
        [spec] = source.tools()
        yield source, spec, tmp_path
    finally:
        await source.stop()


def _lane(source: McpSource) -> CallLane:
    assert source._main is not None and source._main.lane is not None  # a stdio session's
    return source._main.lane


def _context(timeout: float = 5.0) -> CallContext:
    return CallContext(timeout=timeout, max_output=65536)


def _cancelled(record: Path) -> list[dict[str, str]]:
    path = record / "cancelled.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


async def _until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        await anyio.sleep(0.02)


async def test_calls_take_the_lane_and_answer(probe: tuple[McpSource, ToolSpec, Path]) -> None:
    source, spec, _ = probe
    assert source._main is not None and source._main.lane is not None  # a stdio session's
    results = []
    async with anyio.create_task_group() as group:  # concurrent calls, each its own answer

        async def one(n: int) -> None:
            results.append(text(await spec.call({"do": f"job {n}"}, _context())))

        for n in range(8):
            group.start_soon(one, n)
    assert sorted(results) == sorted(f"did job {n}" for n in range(8))


async def test_an_error_answer_keeps_its_code_message_and_data(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    source, spec, _ = probe
    lane = _lane(source)
    with pytest.raises(MCPError) as raised:
        await lane.call_tool("probe", {"do": "error"}, timeout=5)
    assert (raised.value.code, raised.value.message) == (-32042, "not today")
    assert raised.value.data == {"why": "closed"}
    result = await spec.call({"do": "error"}, _context())  # as the caller sees it
    assert result.is_error and "refused the call: not today" in text(result)


async def test_a_call_past_its_timeout_is_cancelled_upstream_and_its_late_answer_dropped(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    source, spec, record = probe
    # The lane's own timeout: the server layer's, which would fire first, is not in play here.
    lane = _lane(source)
    with pytest.raises(Exception, match="timed out") as raised:
        await lane.call_tool("probe", {"do": "late"}, timeout=0.3)
    assert getattr(raised.value, "code", None) == -32001  # REQUEST_TIMEOUT
    await _until(lambda: _cancelled(record))
    [notice] = _cancelled(record)
    assert notice["requestId"].startswith("bridge-") and "timed out" in notice["reason"]
    await anyio.sleep(2.0)  # the late answer arrives: dropped, the session still serves
    assert lane._pending == {}
    assert text(await spec.call({"do": "after"}, _context())) == "did after"


async def test_a_cancelled_caller_tells_the_server(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    _, spec, record = probe
    with anyio.move_on_after(0.3):
        await spec.call({"do": "hang"}, _context())
    await _until(lambda: _cancelled(record))
    assert _cancelled(record)[0]["reason"] == "caller cancelled"


async def test_calls_in_flight_end_at_once_when_the_session_is_torn_down(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    source, spec, _ = probe
    results = []

    async def call() -> None:
        results.append(await spec.call({"do": "hang"}, _context(timeout=30)))

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await anyio.sleep(0.3)
        assert source._main is not None
        source._main.cancel()  # the supervisor ends the session, as stop() does
    [result] = results
    assert result.is_error and "went away" in text(result)
    assert time.monotonic() - started < 5


async def test_answers_are_checked_against_the_negotiated_version(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    source, spec, _ = probe
    lane = _lane(source)
    assert lane.version == "2025-11-25"
    # A 2026 multi-round answer on a 2025 session: its later-revision fields are dropped.
    shaped = await lane.call_tool("probe", {"do": "input_required"}, timeout=5)
    dumped = shaped.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert "input_required" not in json.dumps(dumped) and "inputRequests" not in dumped
    with pytest.raises(ValidationError):
        await lane.call_tool("probe", {"do": "listy"}, timeout=5)
    result = await spec.call({"do": "listy"}, _context())
    assert result.is_error and "does not match its schema" in text(result)


async def test_a_request_from_the_server_is_left_to_the_sdk(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    _, spec, _ = probe
    # The server pings with id "bridge-1" while the lane's call is in flight: the SDK answers
    # the ping; the call's own answer still reaches the call.
    assert text(await spec.call({"do": "ask_first"}, _context())) == "asked"
    assert text(await spec.call({"do": "again"}, _context())) == "did again"


async def test_an_answer_longer_than_one_read_arrives_whole(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    _, spec, _ = probe
    assert text(await spec.call({"do": "big"}, _context())) == "x" * 1_000_000


async def test_a_line_that_is_not_json_rpc_is_logged_and_the_session_goes_on(
    probe: tuple[McpSource, ToolSpec, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _, spec, _ = probe
    assert text(await spec.call({"do": "garbage"}, _context())) == "after garbage"
    assert any("not a JSON-RPC message" in r.getMessage() for r in caplog.records)
    assert not any("not json at all" in r.getMessage() for r in caplog.records)  # not echoed
    assert text(await spec.call({"do": "again"}, _context())) == "did again"


async def test_an_answer_with_neither_result_nor_error_fails_the_call_at_once(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    _, spec, _ = probe
    started = time.monotonic()
    result = await spec.call({"do": "shapeless"}, _context(timeout=30))
    assert result.is_error and "not a JSON-RPC response" in text(result)
    assert time.monotonic() - started < 5


async def test_stopping_the_source_stops_the_child(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    source, spec, record = probe
    assert text(await spec.call({"do": "hello"}, _context())) == "did hello"
    pid = int((record / "pid").read_text())
    os.kill(pid, 0)  # alive
    await source.stop()
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(pid, 0)
    result = await spec.call({"do": "after"}, _context())
    assert result.is_error


async def test_a_line_nested_past_the_parser_s_limit_leaves_the_session_up(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    source, spec, _ = probe
    assert text(await spec.call({"do": "deep_line"}, _context())) == "after deep line"
    assert source._main is not None and source._main.client is not None
    with anyio.fail_after(5):  # the session still reads: a tools/list round trip
        await source._main.client.list_tools()


async def test_a_result_nested_too_deep_to_check_is_an_error_result(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    _, spec, _ = probe
    result = await spec.call({"do": "deep_result"}, _context())
    assert result.is_error and "cannot be checked" in text(result)


async def test_arguments_json_cannot_carry_are_refused_before_anything_is_sent(
    probe: tuple[McpSource, ToolSpec, Path],
) -> None:
    source, _, _ = probe
    lane = _lane(source)
    with pytest.raises(MCPError) as raised:
        await lane.call_tool("probe", {"do": float("nan")}, timeout=5)
    assert raised.value.code == -32602 and lane._pending == {}
