"""The direct route for plain 2026-07-28 ``tools/call`` requests answers as the SDK would.

Each plain request is sent twice to a real bridge: with a ``Content-Length`` (the direct route
takes it) and chunked (the route leaves it to the SDK's modern entry). The answers must be the
same, field for field. Which path answered is read off the SDK's modern entry, wrapped to count
its requests. Requests that are not plain must reach the SDK whatever their framing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp.server.streamable_http_manager as manager_module
import pytest
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
)

from tests.bridge.conftest import RunningBridge

pytestmark = pytest.mark.anyio

StartBridge = Callable[..., RunningBridge]
VERSION = "2026-07-28"


@pytest.fixture
def sdk_answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The methods the SDK's modern entry served, in order."""
    served: list[str] = []
    original = manager_module.handle_modern_request

    async def counted(*args: Any) -> None:
        scope = args[4]
        served.append(dict(scope["headers"]).get(b"mcp-method", b"").decode())
        await original(*args)

    monkeypatch.setattr(manager_module, "handle_modern_request", counted)
    yield served


def _request(name: str, arguments: dict[str, Any] | None, **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": name,
        "_meta": {
            PROTOCOL_VERSION_META_KEY: VERSION,
            CLIENT_CAPABILITIES_META_KEY: {},
            CLIENT_INFO_META_KEY: {"name": "direct-test", "version": "1"},
            **meta,
        },
    }
    if arguments is not None:
        params["arguments"] = arguments
    return {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": params}


def _headers(token: str, name: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
    }


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _both(
    http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    raw = json.dumps(body).encode()
    direct = await http.post("/mcp", content=raw, headers=headers)
    sdk = await http.post("/mcp", content=_chunked(raw), headers=headers)
    return direct, sdk


PLAIN = [
    ("echo", {"text": "hello"}),  # a sync tool, text and structured content
    ("add", {"a": 2, "b": 40}),  # an async tool with a model as its output schema
    ("explode", {"reason": "boom"}),  # a raising tool: an isError result
    ("echo", {"text": 5}),  # invalid arguments: the ToolError as an isError result
    ("echo", None),  # no arguments at all
    ("greet", {"who": "ada"}),  # a command tool
    ("flood", {"kib": 80}),  # output over the cap: truncated with a notice
]


@pytest.mark.parametrize(("name", "arguments"), PLAIN)
async def test_a_plain_call_is_answered_directly_as_the_sdk_answers_it(
    start_bridge: StartBridge, sdk_answers: list[str], name: str, arguments: dict[str, Any] | None
) -> None:
    bridge = start_bridge()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        direct, sdk = await _both(http, _request(name, arguments), _headers(bridge.token, name))
    assert sdk_answers == ["tools/call"]  # the chunked one only
    assert (direct.status_code, direct.headers["content-type"]) == (200, "application/json")
    assert (sdk.status_code, sdk.headers["content-type"]) == (200, "application/json")
    assert direct.json() == sdk.json()
    assert direct.json()["result"]["resultType"] == "complete"


async def test_the_answers_say_what_happened(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("add", {"a": 2, "b": 40}),
            ("explode", {"reason": "boom"}),
            ("flood", {"kib": 80}),
        ]
        added, exploded, flooded = [
            (await _both(http, _request(n, a), _headers(bridge.token, n)))[0].json()["result"]
            for n, a in calls
        ]
    assert added["structuredContent"] == {"total": 42, "terms": 2} and not added["isError"]
    assert exploded["isError"] and "boom" not in json.dumps(exploded)  # no internals
    assert flooded["content"][-1]["text"].startswith("[output truncated")
    assert added["_meta"][SERVER_INFO_META_KEY]["name"] == "test-bridge"


NOT_PLAIN = [
    # (why, request changes, header changes, expected status from the SDK)
    ("unknown tool", {"name": "nope"}, {"Mcp-Name": "nope"}, 200),
    ("progress asked", {"meta": {"progressToken": "p1"}}, {}, 200),
    ("name header disagrees", {}, {"Mcp-Name": "add"}, 400),
    ("version header disagrees", {}, {"MCP-Protocol-Version": "2099-01-01"}, 400),
    ("wrong host", {}, {"Host": "evil.example"}, 421),
    ("JSON not accepted", {}, {"Accept": "text/event-stream"}, 406),
]


@pytest.mark.parametrize(("why", "change", "header", "status"), NOT_PLAIN)
async def test_a_request_that_is_not_plain_is_left_to_the_sdk(
    start_bridge: StartBridge,
    sdk_answers: list[str],
    why: str,
    change: dict[str, Any],
    header: dict[str, str],
    status: int,
) -> None:
    bridge = start_bridge()
    name = change.get("name", "echo")
    body = _request(name, {"text": "hi"}, **change.get("meta", {}))
    headers = {**_headers(bridge.token, name), **header}
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        answer = await http.post("/mcp", content=json.dumps(body).encode(), headers=headers)
    if status == 421:  # the SDK's transport-security answer, sent by the route itself
        assert answer.status_code == 421 and answer.text == "Invalid Host header"
        return
    assert sdk_answers == ["tools/call"], why
    assert answer.status_code == status, answer.text


async def test_a_refused_token_gets_the_sdks_401(
    start_bridge: StartBridge, sdk_answers: list[str]
) -> None:
    bridge = start_bridge()
    body = json.dumps(_request("echo", {"text": "hi"})).encode()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        wrong = await http.post("/mcp", content=body, headers=_headers("mcpb_x.y", "echo"))
        bridge.store.revoke("agents")
        deadline = time.monotonic() + 2  # the index sees a revocation within a second
        while True:
            revoked = await http.post("/mcp", content=body, headers=_headers(bridge.token, "echo"))
            if revoked.status_code != 200 or time.monotonic() > deadline:
                break
            await anyio.sleep(0.05)
    assert wrong.status_code == revoked.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert sdk_answers == []  # the SDK's auth middleware answered, before its modern entry


async def test_scopes_still_refuse_a_tool(start_bridge: StartBridge) -> None:
    bridge = start_bridge(scopes=("echo",))
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        allowed, _ = await _both(
            http, _request("echo", {"text": "hi"}), _headers(bridge.token, "echo")
        )
        refused, _ = await _both(
            http, _request("add", {"a": 1, "b": 2}), _headers(bridge.token, "add")
        )
    assert allowed.json()["result"]["structuredContent"] == {"result": "hi"}
    assert refused.json()["result"]["isError"]
    assert "Unknown tool" in refused.json()["result"]["content"][0]["text"]


async def test_a_call_whose_client_hangs_up_is_cancelled(
    start_bridge: StartBridge,
    sdk_answers: list[str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bridge = start_bridge()
    marker = tmp_path / "in-flight"
    body = json.dumps(_request("hold", {"marker": str(marker), "seconds": 30})).encode()
    caplog.set_level(logging.INFO, logger="bridge.calls")
    started = time.monotonic()
    async with (
        httpx.AsyncClient(base_url=bridge.url, timeout=30) as http,
        anyio.create_task_group() as group,
    ):
        group.start_soon(
            lambda: http.post("/mcp", content=body, headers=_headers(bridge.token, "hold"))
        )
        while not marker.exists():
            await anyio.sleep(0.02)
        group.cancel_scope.cancel()  # the client hangs up
    while not any("outcome=cancelled" in r.getMessage() for r in caplog.records):
        assert time.monotonic() - started < 10, "the call was not cancelled"
        await anyio.sleep(0.05)
    assert sdk_answers == []  # it was the direct route's call


async def test_requests_the_sdk_reads_its_own_way_are_left_to_it(
    start_bridge: StartBridge, sdk_answers: list[str]
) -> None:
    bridge = start_bridge()
    plain = _headers(bridge.token, "echo")
    body = json.dumps(_request("echo", {"text": "hi"})).encode()
    escaped = json.dumps(_request("echo", {"text": "caf\u00e9"})).encode()  # \u00e9 on the wire
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        # Two Authorization headers: the SDK reads the first (here a wrong one) and refuses.
        doubled = [("Authorization", "Bearer mcpb_x.y"), *plain.items()]
        refused = await http.post("/mcp", content=body, headers=doubled)
        # A session id, before or after Mcp-Method, or in the query string.
        session = [("Mcp-Session-Id", "0123abcd"), *plain.items()]
        in_header = await http.post("/mcp", content=body, headers=session)
        in_query = await http.post("/mcp?session_id=0123abcd", content=body, headers=plain)
        # A JSON escape: the SDK's answer may stream (the escape could spell a progress token).
        streamed = await http.post("/mcp", content=escaped, headers=plain)
        no_accept = await http.post("/mcp", content=body, headers={**plain, "Accept": ""})
    assert refused.status_code == 401
    assert streamed.json()["result"]["structuredContent"] == {"result": "caf\u00e9"}
    assert no_accept.status_code == 406
    assert len(sdk_answers) == 4, (in_header.status_code, in_query.status_code)


async def test_rejected_arguments_are_logged_by_field_name_only_on_both_paths(
    start_bridge: StartBridge, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = start_bridge()
    caplog.set_level(logging.INFO, logger="mcp.server.mcpserver.server")
    secret = "123-45-6789"
    request = _request("echo", {"text": {"ssn": secret}})
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        direct, sdk = await _both(http, request, _headers(bridge.token, "echo"))
    assert direct.json() == sdk.json() and direct.json()["result"]["isError"]
    lines = [r.getMessage() for r in caplog.records if r.name == "mcp.server.mcpserver.server"]
    assert lines == ["Tool 'echo' rejected arguments: ['text']"] * 2
    assert secret not in "\n".join(r.getMessage() for r in caplog.records)
