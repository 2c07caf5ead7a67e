"""A revoked or expired token's open streams and sessions end within a second (issue 13)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx2
import pytest

import vaults
from tests.bridge.conftest import RunningBridge

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
ACCEPT = "application/json, text/event-stream"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _lines(response: httpx2.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        yield line


async def _ends_within(chunks: AsyncIterator[object], seconds: float) -> float:
    """Read ``chunks`` to their end; the seconds it took (fails past ``seconds``)."""
    started = time.monotonic()
    with anyio.fail_after(seconds):
        async for _ in chunks:
            pass
    return time.monotonic() - started


async def _open_sse(
    http: httpx2.AsyncClient, bridge: RunningBridge, token: str
) -> tuple[Any, httpx2.Response, AsyncIterator[str], str]:
    stream = http.stream("GET", f"{bridge.url}/sse", headers=_auth(token))
    response = await stream.__aenter__()
    assert response.status_code == 200
    lines = _lines(response)
    async for line in lines:
        if line.startswith("data: /messages/"):
            return stream, response, lines, line.removeprefix("data: ")
    raise AssertionError("no endpoint event")


async def test_revoking_a_token_ends_its_open_sse_stream_within_a_second(
    start_bridge: Callable[..., RunningBridge],
) -> None:
    bridge = start_bridge()
    async with httpx2.AsyncClient(timeout=10) as http:
        stream, _, lines, _ = await _open_sse(http, bridge, bridge.token)
        try:
            bridge.store.revoke("agents")
            assert await _ends_within(lines, 2.0) < 1.0 + 0.3
        finally:
            await stream.__aexit__(None, None, None)


async def test_a_stream_whose_client_moved_to_the_rotated_token_stays_open(
    start_bridge: Callable[..., RunningBridge],
) -> None:
    bridge = start_bridge()
    async with httpx2.AsyncClient(timeout=10) as http:
        stream, _, lines, endpoint = await _open_sse(http, bridge, bridge.token)
        try:
            rotated = vaults.rotate(bridge.store, "agents", grace=1.0)
            assert rotated.token is not None
            ping = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
            for message in (INITIALIZE, INITIALIZED):  # the session now speaks with the new token
                posted = await http.post(
                    f"{bridge.url}{endpoint}", json=message, headers=_auth(rotated.token)
                )
                assert posted.status_code == 202
            await anyio.sleep(2.0)  # the old token's grace is over, and the sweep has run
            posted = await http.post(
                f"{bridge.url}{endpoint}", json=ping, headers=_auth(rotated.token)
            )
            assert posted.status_code == 202
            with anyio.fail_after(5):
                async for line in lines:
                    if line.startswith("data: ") and json.loads(line[6:]).get("id") == 7:
                        break
        finally:
            await stream.__aexit__(None, None, None)


async def _open_session(http: httpx2.AsyncClient, bridge: RunningBridge, token: str) -> str:
    opened = await http.post(
        f"{bridge.url}/mcp", json=INITIALIZE, headers={**_auth(token), "Accept": ACCEPT}
    )
    assert opened.status_code == 200
    session = opened.headers["mcp-session-id"]
    headers = {**_auth(token), "Accept": ACCEPT, "mcp-session-id": session}
    sent = await http.post(f"{bridge.url}/mcp", json=INITIALIZED, headers=headers)
    assert sent.status_code == 202
    return session


async def test_an_expired_token_ends_its_session_and_the_session_stream(
    start_bridge: Callable[..., RunningBridge],
) -> None:
    bridge = start_bridge()
    async with httpx2.AsyncClient(timeout=10) as http:
        session = await _open_session(http, bridge, bridge.token)
        headers = {**_auth(bridge.token), "Accept": "text/event-stream", "mcp-session-id": session}
        async with http.stream("GET", f"{bridge.url}/mcp", headers=headers) as response:
            assert response.status_code == 200
            rotated = vaults.rotate(bridge.store, "agents", grace=0.0)  # the old token ends now
            assert rotated.token is not None
            assert await _ends_within(response.aiter_bytes(), 2.0) < 1.0 + 0.3
        # The session itself is gone: even the credential's new token cannot use it.
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        gone = await http.post(
            f"{bridge.url}/mcp",
            json=ping,
            headers={**_auth(rotated.token), "Accept": ACCEPT, "mcp-session-id": session},
        )
        assert gone.status_code == 404


async def test_a_session_that_spoke_with_the_rotated_token_goes_on(
    start_bridge: Callable[..., RunningBridge],
) -> None:
    bridge = start_bridge()
    async with httpx2.AsyncClient(timeout=10) as http:
        session = await _open_session(http, bridge, bridge.token)
        rotated = vaults.rotate(bridge.store, "agents", grace=1.0)
        assert rotated.token is not None
        headers = {**_auth(rotated.token), "Accept": ACCEPT, "mcp-session-id": session}
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        assert (await http.post(f"{bridge.url}/mcp", json=ping, headers=headers)).status_code == 200
        await anyio.sleep(2.0)
        later = await http.post(f"{bridge.url}/mcp", json=ping, headers=headers)
        assert later.status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param([INITIALIZE], "a batch (a JSON array) is not supported", id="batch"),
        pytest.param({"foo": 1}, 'send one object with "jsonrpc": "2.0"', id="no-method"),
    ],
)
async def test_a_malformed_message_gets_one_readable_line(
    start_bridge: Callable[..., RunningBridge], body: object, says: str
) -> None:
    bridge = start_bridge()
    async with httpx2.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{bridge.url}/mcp", json=body, headers={**_auth(bridge.token), "Accept": ACCEPT}
        )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == -32602
    assert says in error["message"]
    assert "\n" not in error["message"] and len(error["message"]) < 120
    assert int(answer.headers["content-length"]) == len(answer.content)
