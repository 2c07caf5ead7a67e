"""The direct route: a plain ``tools/call`` on the 2026-07-28 leg, answered in one pass.

The SDK serves a modern (sessionless) request through two starlette stacks (the bridge's and
the transport's: error, exception and auth middleware, routers, the body limit) and then, per
request, builds a ``Request``, a ``Connection``, a dispatch context, a ``ServerRunner``, the
``Context`` a tool may take, and pydantic models for the request and its answer. For the call
an agent makes most (a tool called with arguments, no progress, no session), the bridge
needs none of it: this middleware, in front of the routes, checks such a request with
the SDK's own checks and calls the tool directly. Measured with ``benchmarks/run.py``: see the
README's Performance section; written here because the SDK has no lighter entry for one call.

A request is *plain*, and answered here, when all of these hold; any other request goes on
to the SDK untouched (a body read here is handed on as it came):

- ``POST`` to the Streamable HTTP path, ``MCP-Protocol-Version`` a modern revision,
  ``Mcp-Method: tools/call``, no session (no ``Mcp-Session-Id``, no ``session_id=``), the body
  framed by one ``Content-Length`` within the limit and nothing else (a body that turns out
  longer is handed on as far as it was read, and the SDK's limit answers);
- one ``Authorization`` header, a bearer token the bridge's verifier accepts, not expired (the
  SDK's ``BearerAuthBackend`` test; a refused one gets the SDK's 401);
- the SDK's checks pass, called as its modern entry calls them: transport security (Host,
  Origin, Content-Type), ``Accept``, duplicated routing headers, the inbound ladder
  (``classify_inbound_request``), ``Mcp-Param-*`` headers, the request's surface validation;
- the body is one request object whose params are ``name``, ``arguments`` and ``_meta``, with
  none of the multi-round fields and nothing that makes :mod:`bridge.response_mode` choose a
  stream (a progress token, or a JSON escape that could spell one);
- the tool is served and the caller's scopes allow it (an unknown or refused tool is answered
  by the SDK, as before).

The answer is what the SDK's runner would send: the same result serialisation (the version's
surface sieve, ``resultType``, the ``serverInfo`` stamp), a ``ToolError`` as an ``isError``
result and any other exception as ``MCPServer`` does (logged as it logs them), an ``MCPError``
as its JSON-RPC error with the SDK's HTTP status, and a call whose client hangs up cancelled
(:func:`bridge.response_mode.cancelled_on_hang_up`). The route is off
when the server has anything per request that this pass would skip: OpenTelemetry spans, a
cache hint for ``tools/call``, request middleware other than the bridge's own, an extension,
required scopes or a token resource check.
``tests/bridge/test_direct_call.py`` compares its answers with the SDK's, field for field.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from mcp import MCPError
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import TokenVerifier
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.request_state import RequestStateBoundary
from mcp.server.runner import modern_error_data
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp.types import INTERNAL_ERROR, CallToolResult, TextContent
from mcp_types import SERVER_INFO_META_KEY, methods
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.auth import current_caller
from bridge.response_mode import asks_for_stream, cancelled_on_hang_up
from bridge.server import BridgeServer
from bridge.tools.registry import allowed_by_scopes

log = logging.getLogger("mcp.server.mcpserver.server")  # the SDK's own tool-failure lines

_METHOD = "tools/call"
_PLAIN_PARAMS = frozenset({"name", "arguments", "_meta"})
_MODERN = frozenset(v.encode("latin-1") for v in MODERN_PROTOCOL_VERSIONS)
_PARAM_HEADER = "mcp-param-"
_SESSION_QUERY = b"session_id="


class DirectCalls:
    """Pure ASGI middleware: plain modern ``tools/call`` requests answered here (see above)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        server: BridgeServer,
        verifier: TokenVerifier,
        security: TransportSecuritySettings,
        path: str,
        max_body: int,
    ) -> None:
        self.app = app
        self._server = server
        self._verifier = verifier
        self._security = TransportSecurityMiddleware(security)
        self._path = path
        self._max_body = max_body
        self._lowlevel = server.session_manager.app
        self._on = direct_calls_possible(server)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self._on
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self._path
        ):
            await self.app(scope, receive, send)
            return
        if _SESSION_QUERY in scope.get("query_string", b""):
            await self.app(scope, receive, send)
            return
        version = method = length = authorization = None
        sessions = authorizations = framings = 0
        for key, value in scope["headers"]:
            if key == b"mcp-protocol-version":
                version = value
            elif key == b"mcp-method":
                method = value
            elif key == b"content-length":
                length = value
                framings += 1
            elif key == b"authorization":
                authorization = value
                authorizations += 1
            elif key == b"mcp-session-id":
                sessions += 1
            elif key == b"transfer-encoding":
                framings += 1
        if (
            method != b"tools/call"
            or version not in _MODERN
            or sessions
            or framings != 1  # a Content-Length, and nothing else framing the body
            or length is None
            or not length.isdigit()
            or int(length) > self._max_body
            or authorizations != 1  # the SDK reads the first of several; leave those to it
            or authorization is None
            or authorization[:7].lower() != b"bearer "
        ):
            await self.app(scope, receive, send)
            return
        access = await self._verifier.verify_token(authorization[7:].decode("latin-1"))
        if access is None or (access.expires_at and access.expires_at < int(time.time())):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)  # its headers only: the body is read below
        refused = await self._security.validate_request(request, is_post=True)
        if refused is not None:  # the SDK's own answer, which its modern entry sends first
            await refused(scope, receive, send)
            return
        read = await _read_body(receive, self._max_body)
        if read is None:  # the client hung up while sending
            return
        body, complete = read
        handed_on = _replayed(body, complete, receive)
        if complete and not asks_for_stream(body):
            user = auth_context_var.set(AuthenticatedUser(access))
            try:
                plain = self._plain(request, body)
                if plain is not None:
                    await self._answer(plain, receive, send)
                    return
            finally:
                auth_context_var.reset(user)
        await self.app(scope, handed_on, send)

    def _plain(self, request: Request, body: bytes) -> _Plain | None:
        """The call, when the request is plain (see the module docstring); else ``None``."""
        if not check_accept_headers(request)[0]:
            return None
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(decoded, dict) or decoded.keys() != {"jsonrpc", "id", "method", "params"}:
            return None
        request_id, params = decoded["id"], decoded["params"]
        if (
            decoded["jsonrpc"] != "2.0"
            or decoded["method"] != _METHOD
            or type(request_id) not in (int, str)
            or not isinstance(params, dict)
            or not params.keys() <= _PLAIN_PARAMS
        ):
            return None
        name, arguments, meta = params.get("name"), params.get("arguments"), params.get("_meta")
        if (
            not isinstance(name, str)
            or not isinstance(arguments, dict | None)
            or not isinstance(meta, dict)
            or "progressToken" in meta
        ):
            return None
        headers = request.headers
        if find_duplicated_routing_header(headers.items()) is not None:
            return None
        verdict = classify_inbound_request(decoded, headers=dict(headers))
        if isinstance(verdict, InboundLadderRejection):
            return None
        spec = self._server.registry.get(name)
        caller = current_caller()
        if spec is None or not allowed_by_scopes(name, caller.scopes if caller else ()):
            return None
        if (arguments or any(h.startswith(_PARAM_HEADER) for h in headers)) and (
            validate_mcp_param_headers(spec.input_schema, arguments or {}, headers) is not None
        ):
            return None
        try:
            methods.validate_client_request(_METHOD, verdict.protocol_version, params)
        except (ValueError, KeyError, ValidationError):
            return None
        return _Plain(request_id, name, arguments or {}, verdict.protocol_version)

    async def _answer(self, call: _Plain, receive: Receive, send: Send) -> None:
        status = 200
        reply: dict[str, Any] | None = None
        with cancelled_on_hang_up(receive) as body_read:
            body_read()
            try:
                result = await self._call(call)
                reply = {"jsonrpc": "2.0", "id": call.id, "result": result}
            except Exception as exc:  # as the SDK's modern entry maps it
                error = modern_error_data(exc)
                status = ERROR_CODE_HTTP_STATUS.get(error.code, 200)
                reply = {
                    "jsonrpc": "2.0",
                    "id": call.id,
                    "error": error.model_dump(mode="json", by_alias=True, exclude_none=True),
                }
        if reply is None:  # cancelled: the client hung up
            return
        out = json.dumps(reply, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(out)).encode("latin-1")),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": out})

    async def _call(self, call: _Plain) -> dict[str, Any]:
        """The tool's result, serialised as the SDK's runner serialises it."""
        try:
            result = await self._server.call_tool(call.name, call.arguments, None)
        except MCPError:
            raise
        except Exception as exc:  # as MCPServer._handle_call_tool answers and logs it
            if isinstance(exc, ToolError) and not isinstance(exc, UnexpectedToolError):
                if isinstance(exc.__cause__, ValidationError):
                    # Field names only: the rejected values are the caller's data.
                    errors = exc.__cause__.errors()
                    fields = sorted({".".join(str(part) for part in e["loc"]) for e in errors})
                    log.info("Tool %r rejected arguments: %r", call.name, fields)
                else:
                    log.info("Tool %r failed: %r", call.name, str(exc))
            else:
                log.exception("Tool %r raised an unexpected exception", call.name)
            text = TextContent(type="text", text=str(exc))
            result = CallToolResult(content=[text], is_error=True)
        dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        try:
            dumped = methods.serialize_server_result(_METHOD, call.version, dumped)
        except ValidationError:
            logging.getLogger("mcp.server.runner").exception(
                "handler for %r returned an invalid result", _METHOD
            )
            raise MCPError(
                code=INTERNAL_ERROR, message="Handler returned an invalid result"
            ) from None
        if dumped.get("resultType") is None:
            dumped["resultType"] = "complete"
        meta = dumped.get("_meta")
        if meta is None:
            dumped["_meta"] = {SERVER_INFO_META_KEY: self._lowlevel.server_info_stamp}
        elif isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None:
            dumped["_meta"] = {**meta, SERVER_INFO_META_KEY: self._lowlevel.server_info_stamp}
        return dumped


def direct_calls_possible(server: BridgeServer) -> bool:
    """False when the server does per-request work the direct route would skip: auth with
    required scopes or a token resource check, an extension, anything in its middleware chain
    but the SDK's ``requestState`` boundary (which leaves a request without ``requestState``
    alone) and the bridge's own session bookkeeping (``tools/list`` only), or a cache hint for
    ``tools/call``."""
    auth = server.settings.auth
    if auth is not None and (
        auth.required_scopes or (auth.validate_token_resource and auth.resource_server_url)
    ):
        return False  # RequireAuthMiddleware's scopes, BearerAuthBackend's resource check
    if server.session_manager.app.extensions:
        return False  # an extension may intercept tools/call
    own = BridgeServer.remember_session
    for step in server.middleware:
        if isinstance(step, RequestStateBoundary) or getattr(step, "__func__", None) is own:
            continue
        return False
    return _METHOD not in server.session_manager.app.cache_hints


@dataclass(frozen=True, slots=True)
class _Plain:
    id: Any
    name: str
    arguments: dict[str, Any]
    version: str


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool] | None:
    """The body, and whether it is all of it: reading stops past ``limit`` bytes (the SDK's
    limit then answers), and ``None`` when the client hung up."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if not more or size > limit:
            return b"".join(chunks), not more and size <= limit


def _replayed(body: bytes, complete: bool, receive: Receive) -> Receive:
    """``receive`` with what was read of the body delivered first, as one message."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
