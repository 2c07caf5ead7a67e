"""An agent's configuration as sessions and agents share it: tools, MCP servers, model, skills.

The bodies accept what the API accepts; the ``resolve_*`` functions fill in the API's defaults
(toolset policies, model effort and speed, skill versions), and ``check_agent_tools`` holds the
rules that tie ``mcp_servers`` to ``mcp_toolset`` entries.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tests.fakes.managed_agents.bodies import NonEmpty, Str1_255, Strict
from tests.fakes.managed_agents.errors import bad
from tests.fakes.managed_agents.values import is_http_url

MAX_MCP_SERVERS = 20
MAX_TOOLS = 128


class _Policy(Strict):
    type: Literal["always_allow", "always_ask", "auto"]


class _DefaultConfigIn(Strict):
    enabled: bool | None = None
    permission_policy: _Policy | None = None


_AgentToolName = Literal["bash", "edit", "read", "write", "glob", "grep", "web_fetch", "web_search"]


class _AgentToolConfigIn(Strict):
    name: _AgentToolName
    type: _AgentToolName | None = None
    enabled: bool | None = None
    permission_policy: _Policy | None = None


class _AgentToolsetIn(Strict):
    type: Literal["agent_toolset_20260401"]
    configs: list[_AgentToolConfigIn] = []
    default_config: _DefaultConfigIn | None = None


class _McpToolConfigIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    enabled: bool | None = None
    permission_policy: _Policy | None = None


class _McpToolsetIn(Strict):
    type: Literal["mcp_toolset"]
    mcp_server_name: Str1_255
    configs: list[_McpToolConfigIn] = []
    default_config: _DefaultConfigIn | None = None


class _InputSchemaIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["object"]
    properties: dict[str, Any] | None = None
    required: list[str] | None = None


class _CustomToolIn(Strict):
    type: Literal["custom"]
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
    description: str
    input_schema: _InputSchemaIn


ToolIn = Annotated[_AgentToolsetIn | _McpToolsetIn | _CustomToolIn, Field(discriminator="type")]


class McpServerIn(Strict):
    type: Literal["url"]
    name: Str1_255
    url: NonEmpty


_EffortLevel = Literal["low", "medium", "high", "xhigh", "max"]


class _EffortIn(Strict):
    type: _EffortLevel


class ModelConfigIn(Strict):
    id: NonEmpty
    effort: _EffortLevel | _EffortIn | None = None
    speed: Literal["standard", "fast"] | None = None
    inference_geo: str | None = None


ModelIn = NonEmpty | ModelConfigIn


class SkillIn(Strict):
    type: Literal["anthropic", "custom"]
    skill_id: NonEmpty
    version: str | None = None


def _policy(policy: _Policy | None, default: str) -> dict[str, str]:
    return {"type": policy.type if policy is not None else default}


def resolve_tool(tool: _AgentToolsetIn | _McpToolsetIn | _CustomToolIn) -> dict[str, Any]:
    if isinstance(tool, _CustomToolIn):
        return {
            "type": "custom",
            "name": tool.name,
            "description": tool.description,
            "input_schema": tool.input_schema.model_dump(exclude_none=True),
        }
    default_policy = "always_allow" if isinstance(tool, _AgentToolsetIn) else "always_ask"
    given = tool.default_config or _DefaultConfigIn()
    default: dict[str, Any] = {
        "enabled": True if given.enabled is None else given.enabled,
        "permission_policy": _policy(given.permission_policy, default_policy),
    }
    names = [config.name for config in tool.configs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise bad(f"tool configs name {', '.join(duplicates)} more than once")
    configs: list[dict[str, Any]] = []
    for config in tool.configs:
        if isinstance(config, _AgentToolConfigIn) and config.type not in (None, config.name):
            raise bad(f"tool config {config.name!r} has type {config.type!r}; it must match")
        resolved: dict[str, Any] = {
            "name": config.name,
            "enabled": default["enabled"] if config.enabled is None else config.enabled,
            "permission_policy": (
                {"type": config.permission_policy.type}
                if config.permission_policy is not None
                else dict(default["permission_policy"])
            ),
        }
        if isinstance(config, _AgentToolConfigIn):
            resolved["type"] = config.name
        configs.append(resolved)
    if isinstance(tool, _AgentToolsetIn):
        return {"type": tool.type, "configs": configs, "default_config": default}
    return {
        "type": "mcp_toolset",
        "mcp_server_name": tool.mcp_server_name,
        "configs": configs,
        "default_config": default,
    }


def resolve_servers(servers: list[McpServerIn]) -> list[dict[str, Any]]:
    for server in servers:
        if not is_http_url(server.url):
            raise bad(f"mcp_servers {server.name!r}: url {server.url!r} is not an http(s) URL")
    return [{"type": "url", "name": server.name, "url": server.url} for server in servers]


def check_agent_tools(servers: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
    if len(servers) > MAX_MCP_SERVERS:
        raise bad(f"mcp_servers has {len(servers)} entries; at most {MAX_MCP_SERVERS}")
    if len(tools) > MAX_TOOLS:
        raise bad(f"tools has {len(tools)} entries; at most {MAX_TOOLS}")
    names = [server["name"] for server in servers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise bad(f"mcp_servers names must be unique; repeated: {', '.join(duplicates)}")
    referenced: list[str] = []
    customs: list[str] = []
    toolsets = 0
    for tool in tools:
        if tool["type"] == "mcp_toolset":
            name = tool["mcp_server_name"]
            if name not in names:
                raise bad(
                    f"mcp_toolset names mcp_server_name {name!r}, which is not in mcp_servers"
                )
            if name in referenced:
                raise bad(f"more than one mcp_toolset for mcp server {name!r}")
            referenced.append(name)
        elif tool["type"] == "custom":
            if tool["name"] in customs:
                raise bad(f"custom tool name {tool['name']!r} is used more than once")
            customs.append(tool["name"])
        else:
            toolsets += 1
    if toolsets > 1:
        raise bad("at most one agent_toolset_20260401 is allowed")
    unreferenced = [name for name in names if name not in referenced]
    if unreferenced:
        raise bad(
            f"mcp_servers {', '.join(map(repr, unreferenced))} not referenced by any mcp_toolset "
            "in tools; unreferenced servers are rejected"
        )


def resolve_model(spec: str | ModelConfigIn, previous: dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = ModelConfigIn(id=spec)
    if spec.effort is None:
        effort = (
            dict(previous["effort"])
            if previous is not None and previous["id"] == spec.id
            else {"type": "high"}
        )
    else:
        effort = {"type": spec.effort if isinstance(spec.effort, str) else spec.effort.type}
    return {
        "id": spec.id,
        "effort": effort,
        "speed": spec.speed or "standard",
        "inference_geo": spec.inference_geo,
    }


def resolve_skills(skills: list[SkillIn]) -> list[dict[str, Any]]:
    return [
        {"type": skill.type, "skill_id": skill.skill_id, "version": skill.version or "latest"}
        for skill in skills
    ]
