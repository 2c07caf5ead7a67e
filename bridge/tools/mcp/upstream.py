"""One supervised client session with an upstream MCP server: opened, watched, reopened.

The session is the SDK's ``Client`` (handshake era) over a transport that
:mod:`bridge.tools.mcp.transports` opens. When it ends, for any reason, it is reopened after a
delay that doubles from ``restart_delay`` up to ``restart_delay_max`` and starts again from
``restart_delay`` once a session has stayed up for ``_STABLE`` seconds. That loop is written here
rather than with ``tenacity``: a clean end is retried like a failure, the delay resets after a
stable session (not after a success), and the supervisor never stops; in tenacity each of those
is a custom retry, wait and stop strategy with state of its own, more code than the loop.

The tool list is re-read on ``notifications/tools/list_changed``; log messages go to the bridge
log (logger ``bridge.mcp``), with the session's vault values redacted. A stdio session on the
bridge's pipe (:mod:`bridge.tools.mcp.pipe`, all but Windows) also has a
:class:`~bridge.tools.mcp.lane.CallLane` (``Upstream.lane``, while it is up), which its tool
calls without progress take.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx2
from mcp import Client, MCPError
from mcp.client.session import IncomingMessage
from mcp.types import (
    CONNECTION_CLOSED,
    REQUEST_TIMEOUT,
    Implementation,
    LoggingMessageNotificationParams,
    Tool,
    ToolListChangedNotification,
)
from pydantic import ValidationError

from bridge.errors import SecretUnavailableError, ToolLoadError
from bridge.tools.mcp.config import McpToolsConfig
from bridge.tools.mcp.lane import CallLane
from bridge.tools.mcp.pipe import PipeRead
from bridge.tools.secrets import redact
from bridge.tracing import tracing_configured

log = logging.getLogger("bridge.mcp")

Streams = tuple[Any, Any]
Opener = Callable[
    [], Awaitable[tuple[contextlib.AbstractAsyncContextManager[Streams], tuple[str, ...]]]
]
_MAX_PAGES = 100
_STABLE = 10.0  # a session that lasted this long resets the restart backoff
_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}
_MAX_LOGGED = 2000


class Upstream:
    """One supervised client session: opened, watched, reopened with backoff, closed on cancel."""

    def __init__(
        self,
        label: str,
        opener: Opener,
        cfg: McpToolsConfig,
        *,
        retry: bool,
        on_tools: Callable[[list[Tool]], Awaitable[None]] | None,
    ) -> None:
        self.label = label
        self.client: Client | None = None
        self.lane: CallLane | None = None  # tool calls without progress, when set
        self.tools: list[Tool] = []
        self.hidden: tuple[str, ...] = ()
        self.error: str | None = "starting"
        self.active = 0
        self.last_used = time.monotonic()
        self.attempted = anyio.Event()
        self._opener = opener
        self._cfg = cfg
        self._retry = retry
        self._on_tools = on_tools
        self._scope = anyio.CancelScope()

    def cancel(self) -> None:
        self._scope.cancel()

    async def run(self) -> None:
        delay = self._cfg.restart_delay
        try:
            with self._scope:
                while True:
                    began = anyio.current_time()
                    try:
                        await self._session()
                        self.error = "the connection ended" if self._cfg.url else "it exited"
                    except Exception as exc:
                        # An upstream error may echo a vault value (its env, its bearer).
                        self.error = redact(_describe(exc), self.hidden)
                    self.attempted.set()
                    if not self._retry:
                        return
                    if anyio.current_time() - began >= _STABLE:
                        delay = self._cfg.restart_delay
                    log.warning(
                        "%s is down (%s); retrying in %.1f s", self.label, self.error, delay
                    )
                    await anyio.sleep(delay)
                    delay = min(delay * 2, self._cfg.restart_delay_max)
        finally:
            self.error = self.error or "stopped"
            self.attempted.set()

    async def _session(self) -> None:
        transport, hidden = await self._opener()
        self.hidden = hidden
        send, signals = anyio.create_memory_object_stream[str](math.inf)

        async def on_message(message: IncomingMessage) -> None:
            if isinstance(message, ToolListChangedNotification):
                _offer(send, "changed")

        async def on_log(params: LoggingMessageNotificationParams) -> None:
            _forward_log(self.label, params, hidden)

        # A stdio session's tool calls take the lane (bridge.tools.mcp.lane); a remote one's
        # stay with the SDK, whose HTTP transports route each request and its answer, and so
        # do all of them while OpenTelemetry records (the SDK's spans carry the trace on).
        lane = _LaneSlot() if self._cfg.url is None and not tracing_configured() else None
        client = Client(
            _watched(transport, lambda: _offer(send, "closed"), lane),
            mode="legacy",
            read_timeout_seconds=self._cfg.start_timeout,
            message_handler=on_message,
            logging_callback=on_log,
            client_info=Implementation(name="mcp-bridge", version="1"),
            cache=None,
        )
        with send, signals:
            async with client:
                self.tools = await _list_tools(client)
                if self._on_tools is not None:
                    await self._on_tools(self.tools)
                self.client, self.error = client, None
                self.lane = lane.lane if lane is not None else None
                if self.lane is not None:
                    self.lane.version = client.session.protocol_version or self.lane.version
                self.attempted.set()
                log.info("%s is up with %d tools", self.label, len(self.tools))
                try:
                    async for signal in signals:
                        if signal == "closed":
                            break
                        await self._refresh(client)
                finally:
                    self.client = self.lane = None

    async def _refresh(self, client: Client) -> None:
        try:
            tools = await _list_tools(client)
        except (MCPError, ValidationError) as exc:
            reason = redact(_describe(exc), self.hidden)
            log.warning("%s: cannot refresh the tool list (%s)", self.label, reason)
            return
        self.tools = tools
        if self._on_tools is not None:
            await self._on_tools(tools)


async def _list_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


class _LaneSlot:
    """Where :func:`_watched` leaves the lane it makes on the session's pipe."""

    lane: CallLane | None = None


@contextlib.asynccontextmanager
async def _watched(
    transport: contextlib.AbstractAsyncContextManager[Streams],
    on_closed: Callable[[], None],
    slot: _LaneSlot | None,
) -> AsyncIterator[Streams]:
    """``transport``, calling ``on_closed`` when its read side ends (the peer went away), and
    with a :class:`CallLane` on its pipe when ``slot`` is given and it has one."""
    async with transport as (read, write):
        lane = None
        if slot is not None and isinstance(read, PipeRead):
            lane = slot.lane = CallLane(read.pipe)
        try:
            yield _WatchedRead(read, on_closed, lane), write
        finally:  # however the session ends (its end of stream, or a cancel): calls fail now
            if lane is not None:
                lane.close()


class _WatchedRead:
    """A read stream (the SDK's ``ReadStream`` protocol) that calls ``on_closed`` at its end
    and ends the lane's calls in flight with it.

    A wrapper rather than a relay task: a relay costs a task switch and a memory-stream hop on
    every message.
    """

    def __init__(self, inner: Any, on_closed: Callable[[], None], lane: CallLane | None) -> None:
        self._inner = inner
        self._on_closed = on_closed
        self._lane = lane

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            if self._lane is not None:
                self._lane.close()
            self._on_closed()
            raise

    def __aiter__(self) -> _WatchedRead:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        if self._lane is not None:
            self._lane.close()
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedRead:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _offer(send: Any, signal: str) -> None:
    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
        send.send_nowait(signal)


def _forward_log(
    label: str, params: LoggingMessageNotificationParams, hidden: tuple[str, ...]
) -> None:
    data = params.data if isinstance(params.data, str) else json.dumps(params.data, default=str)
    text = redact(data, hidden)[:_MAX_LOGGED]
    where = f"{label} ({params.logger})" if params.logger else label
    log.log(_LOG_LEVELS.get(params.level, logging.INFO), "%s: %s", where, text)


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ToolLoadError):
        return exc.detail
    if isinstance(exc, SecretUnavailableError):
        return str(exc)
    if isinstance(exc, MCPError):
        if exc.code == CONNECTION_CLOSED:
            return "it closed the connection during the handshake"
        if exc.code == REQUEST_TIMEOUT:
            return "it did not answer in time"
        return f"it answered with error {exc.code}: {exc.message}"
    if isinstance(exc, OSError):
        return f"cannot start it: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"it answered HTTP {exc.response.status_code}"
    if isinstance(exc, httpx2.HTTPError):
        return f"cannot reach it: {type(exc).__name__}"
    return type(exc).__name__
