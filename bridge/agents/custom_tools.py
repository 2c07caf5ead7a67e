"""Custom tools that run in this process: Python functions as tool definitions, and their calls.

A function (plain or ``@tool``) is seen the way MCPServer sees a bridge-served tool: the same
schema from its signature, the same argument validation and result conversion when called.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from bridge.errors import AgentError
from bridge.tools.python.decorator import tool_meta

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools.base import Tool

CustomTool: TypeAlias = "Mapping[str, Any] | Callable[..., Any]"
LocalTools: TypeAlias = "Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]]"

_CUSTOM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def local_tool(fn: Callable[..., Any], name: str | None = None) -> Tool:
    """``fn`` as MCPServer sees it: the same schema and call path a bridge-served tool has."""
    from mcp.server.mcpserver.exceptions import InvalidSignature
    from mcp.server.mcpserver.tools.base import Tool

    meta = tool_meta(fn)
    name = name or (meta.name if meta else None) or str(getattr(fn, "__name__", ""))
    if not _CUSTOM_NAME.fullmatch(name):
        raise AgentError(
            f"custom tool name {name!r} must be 1-128 letters, digits, '_' or '-'; "
            "rename it with @tool(name=...)"
        )
    if meta is not None and meta.secrets:
        raise AgentError(
            f"custom tool {name!r} declares vault secrets; custom tools run in this process "
            "without them, so serve it through the bridge instead"
        )
    try:
        return Tool.from_function(
            fn,
            name=name,
            title=meta.title if meta else None,
            description=(meta.description if meta else None) or inspect.getdoc(fn),
            structured_output=meta.structured_output if meta else None,
        )
    except (InvalidSignature, TypeError, ValueError, NameError) as exc:
        raise AgentError(f"custom tool {name!r}: cannot build its input schema: {exc}") from exc


def definition(item: CustomTool) -> dict[str, Any]:
    """The agent's ``custom`` tool entry: ``item`` as given (a dict), or built from a function."""
    if isinstance(item, Mapping):
        return dict(item)
    local = local_tool(item)
    if not local.description:
        raise AgentError(
            f"custom tool {local.name!r} has no description; give it a docstring or "
            "@tool(description=...) so the model knows when to call it"
        )
    return {
        "type": "custom",
        "name": local.name,
        "description": local.description,
        "input_schema": local.parameters,
    }


def tool_table(tools: LocalTools) -> dict[str, Tool]:
    """The local tools by the name the agent calls them with."""
    items = tools.items() if isinstance(tools, Mapping) else ((None, fn) for fn in tools)
    table: dict[str, Tool] = {}
    for name, fn in items:
        local = local_tool(fn, name)
        table[local.name] = local
    return table


def call_local(local: Tool, arguments: dict[str, Any]) -> tuple[str, bool]:
    """Run ``local`` as the bridge would; the result's text and whether it is an error."""
    import anyio
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult, TextContent

    try:
        result = anyio.run(functools.partial(local.run, arguments, None, convert_result=True))  # type: ignore[arg-type]
    except ToolError as exc:
        return str(exc), True
    if not isinstance(result, CallToolResult):
        return f"Error executing tool {local.name}: multi-round input is not supported", True
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    if not texts and result.structured_content is not None:
        texts = [json.dumps(result.structured_content)]
    return "\n".join(texts), bool(result.is_error)
