"""Tool calls on a stdio session's pipe, past the SDK client's dispatcher.

A proxied call through the SDK's ``ClientSession`` pays, per call, for the request and result
models, an OpenTelemetry span, a request clock, the dispatcher's pending table and a memory
stream per request: with the stdio transport, a third of the bridge's CPU per proxied stdio
call in a py-spy profile, where a proxy with nothing but a JSON-RPC pipe to the same server is
as fast as calling it directly. So ``tools/call`` requests without progress are written on the
session's pipe (:mod:`bridge.tools.mcp.pipe`) here, as JSON, and the pipe hands their answers
back decoded, before the session sees them; the SDK keeps everything else (the handshake,
notifications, ``list_changed``, log messages, requests from the server, calls that report
progress). The SDK has no lighter entry for one request, hence this module.

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
import json
import logging
from types import UnionType
from typing import Any, get_args

import anyio
import anyio.lowlevel
from mcp import MCPError
from mcp.types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    REQUEST_TIMEOUT,
    CallToolResult,
    ErrorData,
)
from mcp_types import methods
from mcp_types.version import KNOWN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from bridge.tools.mcp.pipe import LANE_ID_PREFIX, Pipe

log = logging.getLogger("bridge.mcp")

_CANCEL_WRITE_TIMEOUT = 1.0  # a courtesy cancel never holds a call open longer than this
_CLOSED = "Connection closed"
_METHOD = "tools/call"
# What close() answers the calls in flight.
_ENDED: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {"code": CONNECTION_CLOSED, "message": _CLOSED},
}


class CallLane:
    """``tools/call`` requests written on ``pipe``; the answers the pipe diverts come back here.

    ``version`` is the protocol version the session negotiated, which the answers are checked
    against, as the SDK's session checks them."""

    def __init__(self, pipe: Pipe) -> None:
        self.version = "2025-11-25"  # the SDK's own assumption until the handshake is done
        self._pipe = pipe
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._closed = False
        pipe.divert(self.take)

    def take(self, answer: dict[str, Any]) -> bool:
        """Whether ``answer`` (a decoded line with a string id and no method) answers a call
        of this lane (it is then delivered here and must not reach the session)."""
        future = self._pending.get(answer["id"])
        if future is None:
            return False
        if not future.done():
            future.set_result(answer)
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
        request_id = f"{LANE_ID_PREFIX}{next(self._ids)}"
        request = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": _METHOD,
            "params": {"name": name, "arguments": arguments},
        }
        try:
            line = _line(request)
        except (TypeError, ValueError):  # NaN or infinity: JSON has no such numbers
            raise MCPError(code=INVALID_PARAMS, message="arguments are not JSON") from None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        written = False
        try:
            # As the SDK's dispatcher: a write that has begun counts as sent, so its
            # cancellation is told.
            await anyio.lowlevel.checkpoint_if_cancelled()
            written = True
            try:
                await self._pipe.send_line(line)
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
        return _result(answer, self.version)

    async def _cancel(self, request_id: str, reason: str, *, shield: bool) -> None:
        notice = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": request_id, "reason": reason},
        }
        line = _line(notice)
        with anyio.move_on_after(_CANCEL_WRITE_TIMEOUT, shield=shield) as scope:
            try:
                await self._pipe.send_line(line)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the session is gone, and the call with it
        if scope.cancelled_caught:
            log.warning("cancelling call %s gave up: the server's input is blocked", request_id)


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _result(answer: dict[str, Any], version: str) -> CallToolResult:
    """The call's result from its decoded answer, checked as the SDK's session checks one: a
    JSON-RPC error raises ``MCPError`` with its code, message and data, an answer that is
    neither a result nor an error, or a result nested too deep to check, ``MCPError``
    (``INTERNAL_ERROR``), a result that fails its schema ``pydantic.ValidationError``."""
    if answer.get("jsonrpc") != "2.0" or ("result" in answer) == ("error" in answer):
        raise MCPError(code=INTERNAL_ERROR, message="its answer is not a JSON-RPC response")
    if "error" in answer:
        error = ErrorData.model_validate(answer["error"], by_name=False)
        raise MCPError(code=error.code, message=error.message, data=error.data)
    result = answer["result"]
    if not isinstance(result, dict):
        return CallToolResult.model_validate(result, by_name=False)  # raises ValidationError
    try:
        checked = _checked(result, version)
    except ValidationError:
        raise
    except ValueError as exc:  # pydantic's serializer: nested deeper than it goes
        message = f"its result cannot be checked: {exc}"
        raise MCPError(code=INTERNAL_ERROR, message=message) from None
    return CallToolResult.model_validate(checked, by_name=False)


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
