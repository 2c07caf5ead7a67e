"""Per request on Streamable HTTP: a plain JSON answer, unless the request streams.

Streamable HTTP answers a request with plain JSON unless it streams (``_ResponseMode``): the
SDK's ``json_response`` halves the server's work per call on the handshake-era leg and cuts a
fifth on the 2026-07-28 leg, but applied to every request it drops progress notifications and,
on the modern leg, the cancellation of a call whose client hangs up. So the flag is decided per
request: an SSE stream for a request that carries a progress token, and for the one that opens
a handshake-era session (the session's own task inherits that request's context, and must never
drop the notifications of later streamed requests); JSON for the rest, with the hang-up watched
here on the modern leg. SSE (``/sse``) is not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, cast

import anyio
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS as HANDSHAKE_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_JSON_ANSWER: ContextVar[bool] = ContextVar("bridge_json_answer", default=False)


class _JsonForThisRequest:
    """Stands in for the SDK's ``json_response`` flag, which it only ever tests for truth:
    true while serving a request ``_ResponseMode`` chose to answer with JSON."""

    def __bool__(self) -> bool:
        return _JSON_ANSWER.get()


JSON_FOR_THIS_REQUEST = cast(bool, _JsonForThisRequest())
"""The value to give the SDK's ``json_response``."""
_PROTOCOL_VERSION = b"mcp-protocol-version"
_SESSION_ID = b"mcp-session-id"
# A progress token asks for a stream; a JSON escape could spell that key some other way.
_STREAM_MARKERS = (b"progressToken", b"\\u")
_OVERLAP = max(len(marker) for marker in _STREAM_MARKERS) - 1


def asks_for_stream(body: bytes) -> bool:
    """Whether a whole body holds what makes ``ResponseMode`` answer with a stream."""
    return any(marker in body for marker in _STREAM_MARKERS)


class ResponseMode:
    """Decides, while the SDK reads a POST body, whether the answer is JSON (see the module
    docstring). It reads nothing itself, so the SDK's auth check still comes before the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        version = session = None
        for name, value in scope["headers"]:
            if name == _PROTOCOL_VERSION:
                version = value
            elif name == _SESSION_ID:
                session = value
        modern = version is not None and version.decode("latin-1") not in HANDSHAKE_VERSIONS
        if not modern and session is None:  # opens a session: stays a stream (see above)
            await self.app(scope, receive, send)
            return
        if not modern:
            await self.app(scope, _Scanning(receive), send)
            return
        await _cancelled_on_hang_up(self.app, scope, receive, send)


async def _cancelled_on_hang_up(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve a modern-leg POST; a JSON-answered call is cancelled when its client hangs up
    (the SDK's streamed answer watches for that itself, its JSON answer does not)."""
    with cancelled_on_hang_up(receive) as body_read:
        await app(scope, _Scanning(receive, on_json=body_read), send)


@contextlib.contextmanager
def cancelled_on_hang_up(receive: Receive) -> Iterator[Callable[[], None]]:
    """Cancel the block when the client hangs up, once the returned function is called (with
    the whole body read, the next message is the disconnect). The watch starts
    ``_WATCH_AFTER`` later, so that the common short call pays for a timer, not for a task
    (an anyio task group per request measured 40 us)."""
    loop = asyncio.get_running_loop()
    watcher: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None

    async def hang_up(cancel: anyio.CancelScope) -> None:
        # The next message is the disconnect (also sent once the answer is complete, by
        # which time this task has been cancelled).
        while (await receive())["type"] != "http.disconnect":
            pass
        cancel.cancel()

    def watch(cancel: anyio.CancelScope) -> None:
        nonlocal watcher
        watcher = loop.create_task(hang_up(cancel))

    with anyio.CancelScope() as cancel:

        def body_read() -> None:
            nonlocal timer
            timer = loop.call_later(_WATCH_AFTER, watch, cancel)

        try:
            yield body_read
        finally:
            if timer is not None:
                timer.cancel()
            if watcher is not None:
                watcher.cancel()


_WATCH_AFTER = 0.1


class _Scanning:
    """A ``receive`` that looks through the body for what asks for a stream, and sets the
    request's answer mode once the body is complete."""

    def __init__(self, receive: Receive, on_json: Any = None) -> None:
        self._receive = receive
        self._tail = b""
        self._streams = False
        self._on_json = on_json

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        body = message.get("body", b"")
        if not self._streams:  # a marker may straddle two chunks: look at the seam too
            seam = self._tail + body[:_OVERLAP]
            self._streams = any(m in body or m in seam for m in _STREAM_MARKERS)
        self._tail = body[-_OVERLAP:] if len(body) >= _OVERLAP else (self._tail + body)[-_OVERLAP:]
        if not message.get("more_body", False) and not self._streams:
            _JSON_ANSWER.set(True)
            if self._on_json is not None:
                self._on_json()
        return message
