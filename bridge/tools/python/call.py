"""Calling a Python tool: its secrets read, a sync function in an abandonable thread, redaction.

Errors follow MCPServer: the call raises ``ToolError`` for invalid arguments and for a
``ToolError`` the function raises (its text reaches the agent), ``UnexpectedToolError`` for any
other exception (the agent sees only ``Error executing tool NAME``); the server turns both into
``isError`` results. Sync functions run in a worker thread that is abandoned (not waited for) when
the call is cancelled or times out, so a hung function cannot hold a call open.

A function that declares secrets, ``@tool(secrets=["crm-key"])``, gets their values through its
parameter annotated ``Secrets``, read at call time; the values are redacted from what the tool
returns or raises, and from the exceptions chained to what it raises.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp.types import CallToolResult

from bridge.tools.python.decorator import Secrets
from bridge.tools.registry import CallContext, ToolCall
from bridge.tools.secrets import SecretResolver, redact, redact_result


def caller(
    base: Tool,
    fn: Callable[..., Any],
    secrets_param: str | None,
    names: tuple[str, ...],
    resolver: SecretResolver,
) -> ToolCall:
    """The ``ToolSpec.call`` of ``fn``: ``base`` runs it, ``names`` its secrets, read at call time.

    ``secrets_param`` is the parameter that receives the ``Secrets``, if any.
    """
    is_async = inspect.iscoroutinefunction(fn)

    async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
        values: dict[str, str] = {}
        if names:
            values = await anyio.to_thread.run_sync(_read_secrets, base.name, names, resolver)
        bound: Callable[..., Any] = fn
        if secrets_param is not None:
            bound = functools.partial(fn, **{secrets_param: Secrets(values)})
        if not is_async:
            bound = _in_abandonable_thread(bound)
        runner = base.model_copy(update={"fn": bound, "is_async": True})
        try:
            result = await runner.run(arguments, None, convert_result=True)  # type: ignore[arg-type]
        except ToolError as exc:
            if not _mentions(exc, values) and not _mentions(exc.__cause__, values):
                raise
            raise _scrubbed(exc, values) from _scrubbed_cause(exc.__cause__, values)
        if not isinstance(result, CallToolResult):
            raise ToolError(f"Error executing tool {base.name}: multi-round input is not supported")
        return redact_result(result, values.values())

    return call


def _in_abandonable_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def run(**kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(
            functools.partial(fn, **kwargs), abandon_on_cancel=True
        )

    return run


def _read_secrets(
    tool_name: str, names: tuple[str, ...], resolver: SecretResolver
) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in names:
        try:
            values[name] = resolver.get(name)
        except Exception as exc:
            raise ToolError(
                f"Error executing tool {tool_name}: secret {name!r} is not available; "
                f"add it with `mcp-vault add {name} --kind secret`"
            ) from exc
    return values


def _mentions(exc: BaseException | None, values: Mapping[str, str]) -> bool:
    # The whole chain a traceback prints: an exception raised while handling one that carried
    # the value would otherwise bring it into the log.
    seen: set[int] = set()
    while exc is not None and values and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        if redact(text, values.values()) != text:
            return True
        exc = exc.__cause__ if exc.__suppress_context__ else (exc.__cause__ or exc.__context__)
    return False


class _RedactedError(Exception):
    """Stands in for an exception whose text may have carried a secret value."""


def _scrubbed(exc: BaseException, values: Mapping[str, str]) -> BaseException:
    return type(exc)(redact(str(exc), values.values())).with_traceback(exc.__traceback__)


def _scrubbed_cause(cause: BaseException | None, values: Mapping[str, str]) -> BaseException | None:
    if cause is None:
        return None
    text = redact(f"{type(cause).__name__}: {cause}", values.values())
    return _RedactedError(text).with_traceback(cause.__traceback__)
