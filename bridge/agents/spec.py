"""What the agent that uses the bridge should look like, and how to tell it from what the API holds.

``agent_spec`` is the one place that turns the bridge config and the caller's choices (name,
model, system prompt, tools for their annotations, permission policy, custom tools) into an
``AgentSpec``; ``ensure_agent`` takes that spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bridge.agents.custom_tools import CustomTool, definition
from bridge.agents.toolset import McpTool, Policy, desired_toolset

if TYPE_CHECKING:
    from anthropic.types.beta import BetaManagedAgentsAgent

MARKER_KEY = "managed-by"
MARKER_VALUE = "mcp-bridge"
SERVER_KEY = "mcp-bridge-server"


class _Server(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def public_url(self) -> str: ...


class _Config(Protocol):
    # What is read of ``BridgeConfig``; a protocol keeps the helper clear of the config's
    # imports (the tool sources), which the helper never needs.
    @property
    def server(self) -> _Server: ...


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _canonical_tools(tools: Iterable[dict[str, Any]]) -> str:
    normalised = []
    for tool in tools:
        tool = _without_none(tool)
        if tool.get("type") == "mcp_toolset":
            tool["configs"] = sorted(tool.get("configs", []), key=lambda c: str(c["name"]))
        normalised.append(tool)
    return json.dumps(normalised, sort_keys=True)


@dataclass(frozen=True)
class AgentSpec:
    """What the agent should look like; compared with what the API holds."""

    name: str
    model: str
    system: str | None
    mcp_servers: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    metadata: dict[str, str] = field(default_factory=dict)

    def differs_from(self, agent: BetaManagedAgentsAgent) -> bool:
        """True when ``agent`` lacks part of this configuration (extra metadata is kept)."""
        servers = [s.model_dump(mode="json") for s in agent.mcp_servers]
        tools = [t.model_dump(mode="json") for t in agent.tools]
        return (
            agent.model.id != self.model
            or (agent.system or None) != (self.system or None)
            or _canonical_tools(servers) != _canonical_tools(self.mcp_servers)
            or _canonical_tools(tools) != _canonical_tools(self.tools)
            or any(agent.metadata.get(k) != v for k, v in self.metadata.items())
        )


def agent_spec(
    config: _Config,
    *,
    name: str,
    model: str,
    system: str | None = None,
    tools: Iterable[McpTool] = (),
    permission_policy: Policy = "always_allow",
    overrides: Mapping[str, Policy] | None = None,
    custom_tools: Iterable[CustomTool] = (),
) -> AgentSpec:
    """The agent ``ensure_agent`` wants: the bridge in ``mcp_servers``, its toolset, the marker.

    ``config`` is the bridge's ``BridgeConfig`` (its ``[server]`` name and public URL).
    ``tools`` are the bridge's tools, read for annotations (see :func:`desired_toolset`).
    ``custom_tools`` are tool definitions (dicts) or Python functions (plain or ``@tool``),
    whose signature and docstring give the definition the way the bridge derives them.
    """
    server = config.server
    return AgentSpec(
        name=name,
        model=model,
        system=system,
        mcp_servers=[{"type": "url", "name": server.name, "url": server.public_url}],
        tools=[
            desired_toolset(
                server.name, tools, permission_policy=permission_policy, overrides=overrides
            ),
            *(definition(item) for item in custom_tools),
        ],
        metadata={MARKER_KEY: MARKER_VALUE, SERVER_KEY: server.name},
    )
