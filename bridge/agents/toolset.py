"""The ``mcp_toolset`` giving an agent the bridge's tools, with an explicit permission policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from mcp.types import ToolAnnotations

Policy = Literal["always_allow", "always_ask", "auto"]


class McpTool(Protocol):
    """What the toolset reads of a tool: the bridge's ``ToolSpec`` and MCP's ``Tool`` both fit."""

    @property
    def name(self) -> str: ...

    @property
    def annotations(self) -> ToolAnnotations | None: ...


def _destructive(annotations: ToolAnnotations | None) -> bool:
    # MCP's defaults: readOnlyHint false, destructiveHint true. A tool that says nothing may
    # destroy, so it asks.
    if annotations is None:
        return True
    if annotations.read_only_hint:
        return False
    return annotations.destructive_hint is not False


def desired_toolset(
    server_name: str,
    tools: Iterable[McpTool] = (),
    *,
    permission_policy: Policy = "always_allow",
    overrides: Mapping[str, Policy] | None = None,
) -> dict[str, Any]:
    """The ``mcp_toolset`` for the bridge, with an explicit policy (never the silent default).

    ``tools`` (the bridge's ``ToolSpec`` or MCP ``Tool`` objects) are read for annotations:
    destructive ones (by MCP's defaults, any tool not marked read-only or non-destructive)
    get ``always_ask``. ``overrides`` (tool name -> policy) win over both.
    """
    per_tool: dict[str, Policy] = {
        tool.name: "always_ask" for tool in tools if _destructive(tool.annotations)
    }
    per_tool.update(overrides or {})
    configs = [
        {"name": name, "enabled": True, "permission_policy": {"type": policy}}
        for name, policy in sorted(per_tool.items())
        if policy != permission_policy
    ]
    return {
        "type": "mcp_toolset",
        "mcp_server_name": server_name,
        "default_config": {"enabled": True, "permission_policy": {"type": permission_policy}},
        "configs": configs,
    }
