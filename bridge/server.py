"""The MCP server the bridge serves: one ``MCPServer`` whose tools come from the registry.

What every tool gets here, whatever its source: per-token scopes (filtered ``tools/list``,
refused ``tools/call``), a timeout, an output cap with an explicit notice, cancellation
propagated to the source, and one log line per call (caller, key id, tool, duration, outcome;
never arguments, never tokens).

OpenTelemetry: the SDK's per-message spans are kept when a tracer provider is installed
before the app is built, and left out otherwise (they would record nothing, at a cost per call).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import anyio
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.subscriptions import ToolsListChanged
from mcp.types import CallToolResult, TextContent, Tool

from bridge.auth import current_caller
from bridge.metrics import Metrics
from bridge.tools.registry import CallContext, Registry, ToolSpec, allowed_by_scopes
from bridge.tracing import tracing_configured

log = logging.getLogger("bridge.calls")


@dataclass(frozen=True)
class Limits:
    """What every call gets by default: seconds before it is stopped, bytes of output kept."""

    tool_timeout: float = 60.0
    max_output_bytes: int = 256 * 1024


class BridgeServer(MCPServer[Any]):
    """An ``MCPServer`` that lists and calls the registry's tools for the authenticated caller."""

    def __init__(
        self,
        name: str,
        registry: Registry,
        *,
        limits: Limits,
        metrics: Metrics | None = None,
        token_verifier: TokenVerifier | None = None,
        auth: AuthSettings | None = None,
        version: str = "",
    ) -> None:
        self.bus = InMemorySubscriptionBus()
        super().__init__(
            name,
            version=version or _package_version(),
            token_verifier=token_verifier,
            auth=auth,
            subscriptions=self.bus,
            middleware=[self.remember_session],
        )
        if not tracing_configured():
            # The SDK wraps every message in an OpenTelemetry span (tens of microseconds per
            # call), a no-op until a tracer provider is set up, and says to drop its middleware
            # to opt out. Matched by name: if the SDK renames it, it simply stays.
            self.middleware[:] = [
                m for m in self.middleware if type(m).__name__ != "OpenTelemetryMiddleware"
            ]
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        self.registry = registry
        self.limits = limits
        self.metrics = metrics or Metrics()

    async def remember_session(self, ctx: Any, call_next: Any) -> Any:
        """Keep (weakly) each client connection that lists the tools, to tell it when they
        change (a client that never listed them holds no list to refresh)."""
        # ctx.session is a per-request wrapper; the connection behind it lives as long as the
        # client does. The SDK offers no public handle on it from middleware, so it is read
        # defensively: without it only modern clients (through the bus) hear of changes.
        if ctx.method == "tools/list":
            connection = getattr(getattr(ctx, "session", None), "_connection", None)
            if connection is not None and hasattr(connection, "send_tool_list_changed"):
                self._sessions.add(connection)
        return await call_next(ctx)

    async def tools_changed(self) -> None:
        """Tell connected clients the tool list changed (both protocol eras)."""
        await self.bus.publish(ToolsListChanged())
        for session in list(self._sessions):
            try:
                await session.send_tool_list_changed()
            except Exception:  # a closed session: forget it, the others still need telling
                self._sessions.discard(session)

    async def list_tools(self) -> list[Tool]:
        caller = current_caller()
        scopes = caller.scopes if caller else ()
        return [
            _as_mcp_tool(spec)
            for spec in self.registry.tools()
            if allowed_by_scopes(spec.name, scopes)
        ]

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        spec = self.registry.get(name)
        return None if spec is None else spec.input_schema

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult:
        caller = current_caller()
        spec = self.registry.get(name)
        if spec is None or not allowed_by_scopes(name, caller.scopes if caller else ()):
            _log_call(caller, name, 0.0, "denied" if spec is not None else "unknown")
            raise ToolError(f"Unknown tool: {name}")
        timeout = spec.timeout or self.limits.tool_timeout
        request = _request_context(context)
        call_context = CallContext(
            timeout=timeout,
            max_output=self.limits.max_output_bytes,
            progress=_progress_fn(context, request),
            caller=caller.name if caller else None,
            session=_session_of(request),
        )
        started = time.perf_counter()
        outcome = "error"
        try:
            # move_on_after, not fail_after: a TimeoutError the tool raises itself is its own
            # failure, not the bridge's limit.
            with anyio.move_on_after(timeout) as deadline:
                result = await spec.call(arguments, call_context)
            if deadline.cancelled_caught:
                outcome = "timeout"
                return _error_result(f"Tool {name} timed out after {timeout:g} s and was stopped")
            result = _cap_output(result, self.limits.max_output_bytes)
            outcome = "error" if result.is_error else "ok"
            return result
        except anyio.get_cancelled_exc_class():
            outcome = "cancelled"
            raise
        except ToolError:
            outcome = "error"
            raise
        except Exception:
            outcome = "crash"
            logging.getLogger("bridge.tools").exception("tool %s raised", name)
            return _error_result(f"Tool {name} failed unexpectedly; see the bridge log")
        finally:
            elapsed = time.perf_counter() - started
            _log_call(caller, name, elapsed, outcome)
            self.metrics.observe_call(name, outcome, elapsed)


def _package_version() -> str:
    try:
        return importlib.metadata.version("mcp-bridge")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _as_mcp_tool(spec: ToolSpec) -> Tool:
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema,
        output_schema=spec.output_schema,
        annotations=spec.annotations,
    )


def _request_context(context: Context[Any, Any] | None) -> Any:
    """The SDK's request context behind a call (read once: a pydantic private attribute)."""
    if context is None:
        return None
    try:
        return context.request_context
    except ValueError:  # no request behind this call (in-process)
        return None


def _progress_fn(context: Context[Any, Any] | None, request: Any) -> Any:
    """A progress reporter when the caller asked for progress (sent a progress token), else
    ``None``: reporting would be a no-op, and a source can skip asking its backend for it."""
    meta = getattr(request, "meta", None)
    if context is None or not meta or meta.get("progress_token") is None:
        return None

    async def progress(value: float, total: float | None, message: str | None) -> None:
        await context.report_progress(value, total, message)

    return progress


def _session_of(request: Any) -> str | None:
    """The client session a call came in on: ``session_id`` on SSE, ``mcp-session-id`` on
    handshake-era Streamable HTTP; ``None`` for a stateless (modern-era) request."""
    # Read from the ASGI scope: the starlette Headers/QueryParams views would be built anew
    # on every call just for this.
    scope = getattr(getattr(request, "request", None), "scope", None)
    if scope is None:
        return None
    for name, value in scope.get("headers", ()):
        if name == b"mcp-session-id":
            return bytes(value).decode("latin-1")
    for pair in bytes(scope.get("query_string", b"")).split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == b"session_id" and value:
            return unquote_plus(value.decode("latin-1"))
    return None


def _error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _cap_output(result: CallToolResult, limit: int) -> CallToolResult:
    """Keep at most ``limit`` bytes of content (text cut, other blocks kept whole or left out)."""
    sizes = [_size(block) for block in result.content]
    total = sum(sizes)
    structured = 0
    if result.structured_content is not None and not _surely_within(
        result.structured_content, limit
    ):
        structured = len(json.dumps(result.structured_content, default=str).encode())
    if total <= limit and structured <= limit:
        return result
    budget = limit
    blocks: list[Any] = []
    left_out = 0
    for block, size in zip(result.content, sizes, strict=True):
        if isinstance(block, TextContent):
            kept = block.text.encode()[: max(budget, 0)].decode(errors="ignore")
            budget -= len(kept.encode())
            if kept:
                blocks.append(block.model_copy(update={"text": kept}))
        elif size <= budget:
            budget -= size
            blocks.append(block)
        else:
            left_out += 1
    size = max(total, structured)
    notice = f"[output truncated: {size} bytes, the bridge's limit is {limit} bytes"
    if left_out:
        notice += f"; {left_out} non-text block{'s' if left_out > 1 else ''} left out"
    blocks.append(TextContent(type="text", text=notice + "]"))
    # Structured content cannot be cut and still match its schema, so an oversized one
    # becomes an error result carrying the truncated text.
    too_big_structured = structured > limit
    return CallToolResult(
        content=blocks,
        structured_content=None if too_big_structured else result.structured_content,
        is_error=result.is_error or too_big_structured,
    )


def _surely_within(value: Any, limit: int) -> bool:
    """True when ``json.dumps(value)`` is certainly at most ``limit`` bytes, judged from an
    upper bound over a small value; False means "not known" (then it is serialised to count).

    Saves serialising every result a second time (the SDK serialises it for the wire) when it
    is small, as nearly all are.
    """
    budget = limit
    stack = [value]
    visited = 0
    while stack:
        item = stack.pop()
        visited += 1
        if visited > _SMALL_VALUE_NODES:
            return False
        if isinstance(item, str):
            budget -= 12 * len(item) + 2  # at worst a \uXXXX surrogate pair per character
        elif item is None or isinstance(item, bool):
            budget -= 5
        elif isinstance(item, int) and -(10**18) < item < 10**18:
            budget -= 20
        elif isinstance(item, float):
            budget -= 24
        elif isinstance(item, dict):
            budget -= 2 + 4 * len(item)  # braces, and per entry ": " and ", "
            for key, entry in item.items():
                if not isinstance(key, str):
                    return False
                stack += (key, entry)
        elif isinstance(item, list | tuple):
            budget -= 2 + 2 * len(item)
            stack += item
        else:
            return False  # serialised through default=str: unknown size
        if budget < 0:
            return False
    return True


_SMALL_VALUE_NODES = 64


def _size(block: Any) -> int:
    if isinstance(block, TextContent):
        return len(block.text.encode())
    return len(block.model_dump_json(by_alias=True, exclude_none=True).encode())


def _log_call(caller: Any, tool: str, seconds: float, outcome: str) -> None:
    if log.isEnabledFor(logging.INFO):
        # Formatted here, once: logging's %-formatting per record costs more than an f-string.
        who = f"caller={caller.name} kid={caller.kid}" if caller else "caller=- kid=-"
        log.info(f"tool call {who} tool={tool} duration_ms={seconds * 1000:.1f} outcome={outcome}")
