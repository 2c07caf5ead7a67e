"""Tool calls on a stdio session's own streams, past the SDK client's dispatcher.

A proxied call through the SDK's ``ClientSession`` pays, per call, for the request and result
models, an OpenTelemetry span, a request clock, the dispatcher's pending table and a memory
stream per request: with the stdio transport, a third of the bridge's CPU per proxied stdio
call in a py-spy profile, where a proxy with nothing but a JSON-RPC pipe to the same server is
as fast as calling it directly. So ``tools/call`` requests without progress go out on the
session's write stream here, and their answers are taken off its read stream before the
dispatcher sees them; the SDK keeps everything else (the child process and its framing, the
handshake, notifications, ``list_changed``, log messages, requests from the server, calls that
report progress). The SDK has no lighter entry for one request, hence this module.

What the dispatcher promises a caller, this keeps: an answer that is an error raises
``MCPError`` with its code, message and data; past ``timeout`` the call raises ``MCPError``
(``REQUEST_TIMEOUT``); the end of the session fails every call in flight with ``MCPError``
(``CONNECTION_CLOSED``); a call that times out or is cancelled tells the server with
``notifications/cancelled``, in a bounded write. Request ids are strings (``bridge-1``, ...), so
they never meet the dispatcher's integers. The bridge runs on asyncio, whose futures this uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from types import UnionType
from typing import Any, get_args

import anyio
import anyio.lowlevel
from mcp import MCPError
from mcp.shared.message import SessionMessage
from mcp.types import (
    CONNECTION_CLOSED,
    REQUEST_TIMEOUT,
    CallToolResult,
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
)
from mcp_types import methods
from mcp_types.version import KNOWN_PROTOCOL_VERSIONS
from pydantic import BaseModel

log = logging.getLogger("bridge.mcp")

_CANCEL_WRITE_TIMEOUT = 1.0  # a courtesy cancel never holds a call open longer than this
_CLOSED = "Connection closed"
_METHOD = "tools/call"
_ENDED = JSONRPCError(  # what close() answers the calls in flight
    jsonrpc="2.0", id=None, error=ErrorData(code=CONNECTION_CLOSED, message=_CLOSED)
)

Answer = JSONRPCResponse | JSONRPCError


class CallLane:
    """``tools/call`` requests written to ``write``; :meth:`take` hands their answers back.

    ``version`` is the protocol version the session negotiated, which the answers are checked
    against, as the SDK's session checks them."""

    def __init__(self, write: Any) -> None:
        self.version = "2025-11-25"  # the SDK's own assumption until the handshake is done
        self._write = write
        self._pending: dict[str, asyncio.Future[Answer]] = {}
        self._ids = itertools.count(1)
        self._closed = False

    def take(self, item: object) -> bool:
        """Whether ``item``, read from the session, is the answer to a call of this lane (it
        is then delivered here and must not reach the dispatcher)."""
        if not isinstance(item, SessionMessage):
            return False
        message = item.message
        if not isinstance(message, JSONRPCResponse | JSONRPCError) or not isinstance(
            message.id, str
        ):
            return False
        future = self._pending.get(message.id)
        if future is None:
            return False
        if not future.done():
            future.set_result(message)
        return True

    def close(self) -> None:
        """The session ended: every call in flight fails with ``CONNECTION_CLOSED``. (An
        answer, not an exception, so that a caller gone meanwhile leaves nothing unread.)"""
        self._closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_result(_ENDED)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout: float
    ) -> CallToolResult:
        if self._closed:
            raise MCPError(code=CONNECTION_CLOSED, message=_CLOSED)
        request_id = f"bridge-{next(self._ids)}"
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        params = {"name": name, "arguments": arguments}
        request = JSONRPCRequest(jsonrpc="2.0", id=request_id, method=_METHOD, params=params)
        written = False
        try:
            # As the SDK's dispatcher: a write that has begun counts as sent (a memory-stream
            # send can deliver its item and still raise), so its cancellation is told.
            await anyio.lowlevel.checkpoint_if_cancelled()
            written = True
            try:
                await self._write.send(SessionMessage(request))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise MCPError(code=CONNECTION_CLOSED, message=_CLOSED) from None
            with anyio.fail_after(timeout):
                answer = await future
        except TimeoutError:
            await self._cancel(request_id, f"timed out after {timeout:g}s", shield=False)
            raise MCPError(code=REQUEST_TIMEOUT, message="Request 'tools/call' timed out") from None
        except anyio.get_cancelled_exc_class():
            if written:
                await self._cancel(request_id, "caller cancelled", shield=True)
            raise
        finally:
            self._pending.pop(request_id, None)
        if isinstance(answer, JSONRPCError):
            error = answer.error
            raise MCPError(code=error.code, message=error.message, data=error.data)
        return CallToolResult.model_validate(_checked(answer.result, self.version), by_name=False)

    async def _cancel(self, request_id: str, reason: str, *, shield: bool) -> None:
        notice = JSONRPCNotification(
            jsonrpc="2.0",
            method="notifications/cancelled",
            params={"requestId": request_id, "reason": reason},
        )
        with anyio.move_on_after(_CANCEL_WRITE_TIMEOUT, shield=shield) as scope:
            try:
                await self._write.send(SessionMessage(notice))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the session is gone, and the call with it
        if scope.cancelled_caught:
            log.warning("cancelling call %s gave up: the server's input is blocked", request_id)


def _checked(raw: dict[str, Any], version: str) -> dict[str, Any]:
    """``raw`` checked as ``ClientSession.send_request`` checks a result: against the
    negotiated version's schema (``pydantic.ValidationError`` if it fails), without the
    fields only later revisions declare (a 2026 ``resultType`` on a 2025 session)."""
    with contextlib.suppress(KeyError):  # a version the SDK has no schema for: the model checks
        methods.validate_server_result(_METHOD, version, raw)
    later = _later_fields(version)
    return {key: value for key, value in raw.items() if key not in later} if later else raw


@functools.cache
def _later_fields(version: str) -> frozenset[str]:
    """The ``tools/call`` result keys of revisions after ``version`` that it lacks (as the
    SDK's session works them out: it has no public function for it)."""
    current = methods.SERVER_RESULTS.get((_METHOD, version))
    if current is None or version not in KNOWN_PROTOCOL_VERSIONS:
        return frozenset()
    later: set[str] = set()
    for revision in KNOWN_PROTOCOL_VERSIONS[KNOWN_PROTOCOL_VERSIONS.index(version) + 1 :]:
        row = methods.SERVER_RESULTS.get((_METHOD, revision))
        if row is not None:
            later |= _fields(row)
    return frozenset(later - _fields(current))


def _fields(target: Any) -> set[str]:
    members = get_args(target) if isinstance(target, UnionType) else (target,)
    return {
        field.alias or name
        for model in members
        if isinstance(model, type) and issubclass(model, BaseModel)
        for name, field in model.model_fields.items()
    }
