"""A strict, in-memory fake of the Anthropic Managed Agents API, as a starlette app.

It covers what this project calls: agents (+ versions), sessions (+ events and their SSE stream),
environments, vaults and vault credentials, with the paths, bodies, response shapes and rules of
``shared/reference/managed-agents-api.md``. Request bodies are validated strictly (unknown fields
are rejected at every level), secrets are kept apart from the records and never serialised, and
every error uses the API's envelope plus a ``request-id`` header.

Choices where the real API is not documented (see the reference's "[?]" notes): lists are newest
first (session events oldest first, agent versions newest first); a no-op agent update keeps the
version; credential keys are compared after URL normalisation; sending to a session and creating
one from an archived vault, agent or environment are rejected; 409s carry
``x-should-retry: false`` so the SDK surfaces them at once (tests may still use max_retries=0).
The fake supports the subset of each body the project uses: session ``resources``, multiagent
configs, per-tool ``web_fetch``/``web_search`` options and image/document blocks are rejected.

``ManagedAgentsState`` is also the test's handle on the platform side: ``secret_for`` and
``resolve_credential`` show what the platform would inject, ``fail_next`` injects failures,
``requests`` logs every call (method, path, decoded query), ``on_user_message``,
``on_tool_response`` and ``emit`` script what the agent does in a session (build events with
``agent_message``, ``agent_custom_tool_use``, ``status_idle_requires_action``...; each is checked
against the SDK's model of its type), and ``drop_streams`` cuts open event streams.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import fnmatch
import functools
import hmac
import itertools
import json
import re
import secrets
import string
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import unquote, urlsplit, urlunsplit

from anthropic.types.beta.sessions.beta_managed_agents_session_event import (
    BetaManagedAgentsSessionEvent,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

BETA = "managed-agents-2026-04-01"
DEFAULT_API_KEY = "sk-ant-fake-0123456789"
MAX_PAGE = 100
MAX_MCP_SERVERS = 20
MAX_CREDENTIALS_PER_VAULT = 20
MAX_TOOLS = 128

Event = dict[str, Any]
MessageHandler = Callable[[dict[str, Any], str], list[Event]]
ToolResponseHandler = Callable[[dict[str, Any], list[Event]], list[Event]]

# --------------------------------------------------------------------------- ids, time, urls

_BASE62 = string.digits + string.ascii_letters


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(24))


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_mcp_url(url: str) -> str:
    """The platform's credential match key: lower-case scheme and host, default port and
    trailing slashes dropped, path (and query) kept."""
    # Kept apart from vaults.urls on purpose: the fake plays the platform, so a bug in the
    # project's own normalisation must show up as a mismatch, not be shared by construction.
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --------------------------------------------------------------------------- errors


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, *, error_code: str | None = None) -> dict[str, Any]:
    """The API's error envelope (``request_id`` is filled in when it is sent)."""
    error: dict[str, Any] = {"type": _error_type(status), "message": message}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": None}


class _ApiError(Exception):
    def __init__(self, status: int, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


def _bad(message: str, *, error_code: str | None = None) -> _ApiError:
    return _ApiError(400, message, error_code=error_code)


def _not_found(kind: str, ident: str, *, error_code: str | None = None) -> _ApiError:
    return _ApiError(404, f"{kind} {ident} not found", error_code=error_code)


def _conflict(message: str) -> _ApiError:
    return _ApiError(409, message)


# --------------------------------------------------------------------------- request bodies

Str1_255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Str1_256 = Annotated[str, StringConstraints(min_length=1, max_length=256)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Policy(_Strict):
    type: Literal["always_allow", "always_ask", "auto"]


class _DefaultConfigIn(_Strict):
    enabled: bool | None = None
    permission_policy: _Policy | None = None


_AgentToolName = Literal["bash", "edit", "read", "write", "glob", "grep", "web_fetch", "web_search"]


class _AgentToolConfigIn(_Strict):
    name: _AgentToolName
    type: _AgentToolName | None = None
    enabled: bool | None = None
    permission_policy: _Policy | None = None


class _AgentToolsetIn(_Strict):
    type: Literal["agent_toolset_20260401"]
    configs: list[_AgentToolConfigIn] = []
    default_config: _DefaultConfigIn | None = None


class _McpToolConfigIn(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    enabled: bool | None = None
    permission_policy: _Policy | None = None


class _McpToolsetIn(_Strict):
    type: Literal["mcp_toolset"]
    mcp_server_name: Str1_255
    configs: list[_McpToolConfigIn] = []
    default_config: _DefaultConfigIn | None = None


class _InputSchemaIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["object"]
    properties: dict[str, Any] | None = None
    required: list[str] | None = None


class _CustomToolIn(_Strict):
    type: Literal["custom"]
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
    description: str
    input_schema: _InputSchemaIn


_ToolIn = Annotated[_AgentToolsetIn | _McpToolsetIn | _CustomToolIn, Field(discriminator="type")]


class _McpServerIn(_Strict):
    type: Literal["url"]
    name: Str1_255
    url: NonEmpty


_EffortLevel = Literal["low", "medium", "high", "xhigh", "max"]


class _EffortIn(_Strict):
    type: _EffortLevel


class _ModelConfigIn(_Strict):
    id: NonEmpty
    effort: _EffortLevel | _EffortIn | None = None
    speed: Literal["standard", "fast"] | None = None
    inference_geo: str | None = None


_ModelIn = NonEmpty | _ModelConfigIn


class _SkillIn(_Strict):
    type: Literal["anthropic", "custom"]
    skill_id: NonEmpty
    version: str | None = None


class _ServiceAccountIn(_Strict):
    type: Literal["service_account"]


class _AgentCreate(_Strict):
    name: Str1_256
    model: _ModelIn
    description: Annotated[str, StringConstraints(max_length=2048)] | None = None
    system: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    mcp_servers: list[_McpServerIn] = []
    tools: list[_ToolIn] = []
    skills: Annotated[list[_SkillIn], Field(max_length=20)] = []
    metadata: dict[str, str] = {}
    execution_identity: _ServiceAccountIn | None = None
    multiagent: None = None


class _AgentUpdate(_Strict):
    version: Annotated[int, Field(ge=1)] | None = None
    name: Str1_256 | None = None
    model: _ModelIn | None = None
    description: Annotated[str, StringConstraints(max_length=2048)] | None = None
    system: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    mcp_servers: list[_McpServerIn] | None = None
    tools: list[_ToolIn] | None = None
    skills: Annotated[list[_SkillIn], Field(max_length=20)] | None = None
    metadata: dict[str, str | None] | None = None
    execution_identity: _ServiceAccountIn | None = None
    multiagent: None = None


class _AgentRefIn(_Strict):
    type: Literal["agent"]
    id: NonEmpty
    version: Annotated[int, Field(ge=1)] | None = None


class _AgentOverridesIn(_Strict):
    type: Literal["agent_with_overrides"]
    id: NonEmpty
    version: Annotated[int, Field(ge=1)] | None = None
    model: _ModelIn | None = None
    system: str | None = None
    tools: list[_ToolIn] | None = None
    mcp_servers: list[_McpServerIn] | None = None
    skills: list[_SkillIn] | None = None


class _TextBlockIn(_Strict):
    type: Literal["text"]
    text: str


class _UserMessageIn(_Strict):
    type: Literal["user.message"]
    content: Annotated[list[_TextBlockIn], Field(min_length=1)]


class _UserInterruptIn(_Strict):
    type: Literal["user.interrupt"]
    session_thread_id: str | None = None


class _ToolConfirmationIn(_Strict):
    type: Literal["user.tool_confirmation"]
    tool_use_id: NonEmpty
    result: Literal["allow", "deny"]
    deny_message: str | None = None


class _CustomToolResultIn(_Strict):
    type: Literal["user.custom_tool_result"]
    custom_tool_use_id: NonEmpty
    content: list[_TextBlockIn] | None = None
    is_error: bool | None = None


_EventIn = Annotated[
    _UserMessageIn | _UserInterruptIn | _ToolConfirmationIn | _CustomToolResultIn,
    Field(discriminator="type"),
]


class _SendEvents(_Strict):
    events: Annotated[list[_EventIn], Field(min_length=1)]


class _MoneyIn(_Strict):
    amount: Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]*)$")]
    currency: Literal["USD"]


class _BudgetIn(_Strict):
    type: Literal["limit"]
    max_list_cost: _MoneyIn


class _SessionCreate(_Strict):
    agent: NonEmpty | Annotated[_AgentRefIn | _AgentOverridesIn, Field(discriminator="type")]
    environment_id: NonEmpty
    vault_ids: list[NonEmpty] = []
    resources: list[Any] = []
    initial_events: Annotated[list[_UserMessageIn], Field(max_length=50)] = []
    title: str | None = None
    metadata: dict[str, str] = {}
    budget: _BudgetIn | None = None


class _SessionAgentUpdate(_Strict):
    tools: list[_ToolIn] | None = None
    mcp_servers: list[_McpServerIn] | None = None


class _SessionUpdate(_Strict):
    title: str | None = None
    metadata: dict[str, str | None] | None = None
    budget: _BudgetIn | None = None
    agent: _SessionAgentUpdate | None = None
    vault_ids: list[str] | None = None


class _PackagesIn(_Strict):
    type: Literal["packages"] | None = None
    apt: list[str] | None = None
    cargo: list[str] | None = None
    gem: list[str] | None = None
    go: list[str] | None = None
    npm: list[str] | None = None
    pip: list[str] | None = None


class _UnrestrictedIn(_Strict):
    type: Literal["unrestricted"]


class _LimitedNetworkIn(_Strict):
    type: Literal["limited"]
    allowed_hosts: list[str] | None = None
    allow_mcp_servers: bool | None = None
    allow_package_managers: bool | None = None


class _CloudConfigIn(_Strict):
    type: Literal["cloud"]
    networking: (
        Annotated[_UnrestrictedIn | _LimitedNetworkIn, Field(discriminator="type")] | None
    ) = None
    packages: _PackagesIn | None = None


class _SelfHostedIn(_Strict):
    type: Literal["self_hosted"]


_EnvConfigIn = Annotated[_CloudConfigIn | _SelfHostedIn, Field(discriminator="type")]


class _EnvironmentCreate(_Strict):
    name: Str1_256
    config: _EnvConfigIn | None = None
    description: str | None = None
    metadata: dict[str, str] = {}
    scope: Literal["organization", "account"] | None = None


class _EnvironmentUpdate(_Strict):
    name: Str1_256 | None = None
    config: _EnvConfigIn | None = None
    description: str | None = None
    metadata: dict[str, str | None] | None = None
    scope: Literal["organization", "account"] | None = None


class _VaultCreate(_Strict):
    display_name: Str1_255
    metadata: dict[str, str] = {}


class _VaultUpdate(_Strict):
    display_name: Str1_255 | None = None
    metadata: dict[str, str | None] | None = None


class _StaticBearerCreate(_Strict):
    type: Literal["static_bearer"]
    mcp_server_url: Annotated[str, StringConstraints(min_length=1, max_length=2047)]
    token: NonEmpty


class _TokenAuthNoneIn(_Strict):
    type: Literal["none"]


class _TokenAuthSecretIn(_Strict):
    type: Literal["client_secret_basic", "client_secret_post"]
    client_secret: NonEmpty


class _OAuthRefreshCreate(_Strict):
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    token_endpoint: NonEmpty
    token_endpoint_auth: _TokenAuthNoneIn | _TokenAuthSecretIn
    resource: str | None = None
    scope: str | None = None


class _OAuthCreate(_Strict):
    type: Literal["mcp_oauth"]
    mcp_server_url: Annotated[str, StringConstraints(min_length=1, max_length=2047)]
    access_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    expires_at: datetime | None = None
    refresh: _OAuthRefreshCreate | None = None


class _NetworkUnrestrictedIn(_Strict):
    type: Literal["unrestricted"]


class _NetworkLimitedIn(_Strict):
    type: Literal["limited"]
    allowed_hosts: Annotated[list[str], Field(min_length=1, max_length=16)]


_CredNetworkIn = Annotated[_NetworkUnrestrictedIn | _NetworkLimitedIn, Field(discriminator="type")]


class _InjectionIn(_Strict):
    header: bool = False
    body: bool = False


class _EnvVarCreate(_Strict):
    type: Literal["environment_variable"]
    secret_name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    secret_value: NonEmpty
    networking: _CredNetworkIn
    injection_location: _InjectionIn | None = None


class _CredentialCreate(_Strict):
    auth: Annotated[_StaticBearerCreate | _OAuthCreate | _EnvVarCreate, Field(discriminator="type")]
    display_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    metadata: dict[str, str] = {}


class _StaticBearerUpdate(_Strict):
    type: Literal["static_bearer"]
    token: NonEmpty | None = None


class _TokenAuthSecretUpdate(_Strict):
    type: Literal["client_secret_basic", "client_secret_post"]
    client_secret: NonEmpty | None = None


class _OAuthRefreshUpdate(_Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)] | None = None
    scope: str | None = None
    token_endpoint_auth: _TokenAuthSecretUpdate | None = None


class _OAuthUpdate(_Strict):
    type: Literal["mcp_oauth"]
    access_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)] | None = None
    expires_at: datetime | None = None
    refresh: _OAuthRefreshUpdate | None = None


class _InjectionUpdate(_Strict):
    header: bool | None = None
    body: bool | None = None


class _EnvVarUpdate(_Strict):
    type: Literal["environment_variable"]
    secret_value: NonEmpty | None = None
    networking: _CredNetworkIn | None = None
    injection_location: _InjectionUpdate | None = None


class _CredentialUpdate(_Strict):
    auth: (
        Annotated[_StaticBearerUpdate | _OAuthUpdate | _EnvVarUpdate, Field(discriminator="type")]
        | None
    ) = None
    display_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    metadata: dict[str, str | None] | None = None


_M = TypeVar("_M", bound=BaseModel)

_IMMUTABLE_AUTH_FIELDS = {
    "static_bearer": ("mcp_server_url",),
    "mcp_oauth": ("mcp_server_url",),
    "environment_variable": ("secret_name",),
}
_IMMUTABLE_REFRESH_FIELDS = ("client_id", "token_endpoint")


def _parse(model: type[_M], raw: bytes) -> _M:
    if not raw.strip():
        raise _bad("request body is required")
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise _bad(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise _bad("request body must be a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _bad(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    more = exc.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {first['msg']}{suffix}" if where else f"{first['msg']}{suffix}"


# --------------------------------------------------------------------------- shared rules


def _check_metadata(metadata: dict[str, str]) -> None:
    problems = []
    if len(metadata) > 16:
        problems.append(f"metadata has {len(metadata)} keys; at most 16 are allowed")
    for key, value in metadata.items():
        if not key or len(key) > 64:
            problems.append(f"metadata key {key[:70]!r} must be 1-64 characters")
        if len(value) > 512:
            problems.append(f"metadata value for {key!r} is longer than 512 characters")
    if problems:
        raise _bad("; ".join(problems), error_code="invalid_metadata")


def _patch_metadata(
    current: dict[str, str], patch: dict[str, str | None], *, empty_deletes: bool = False
) -> dict[str, str]:
    result = dict(current)
    for key, value in patch.items():
        if value is None or (empty_deletes and value == ""):
            result.pop(key, None)
        else:
            result[key] = value
    _check_metadata(result)
    return result


def _policy(policy: _Policy | None, default: str) -> dict[str, str]:
    return {"type": policy.type if policy is not None else default}


def _resolve_tool(tool: _AgentToolsetIn | _McpToolsetIn | _CustomToolIn) -> dict[str, Any]:
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
        raise _bad(f"tool configs name {', '.join(duplicates)} more than once")
    configs: list[dict[str, Any]] = []
    for config in tool.configs:
        if isinstance(config, _AgentToolConfigIn) and config.type not in (None, config.name):
            raise _bad(f"tool config {config.name!r} has type {config.type!r}; it must match")
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


def _resolve_servers(servers: list[_McpServerIn]) -> list[dict[str, Any]]:
    for server in servers:
        if not _is_http_url(server.url):
            raise _bad(f"mcp_servers {server.name!r}: url {server.url!r} is not an http(s) URL")
    return [{"type": "url", "name": server.name, "url": server.url} for server in servers]


def _check_agent_tools(servers: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
    if len(servers) > MAX_MCP_SERVERS:
        raise _bad(f"mcp_servers has {len(servers)} entries; at most {MAX_MCP_SERVERS}")
    if len(tools) > MAX_TOOLS:
        raise _bad(f"tools has {len(tools)} entries; at most {MAX_TOOLS}")
    names = [server["name"] for server in servers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise _bad(f"mcp_servers names must be unique; repeated: {', '.join(duplicates)}")
    referenced: list[str] = []
    customs: list[str] = []
    toolsets = 0
    for tool in tools:
        if tool["type"] == "mcp_toolset":
            name = tool["mcp_server_name"]
            if name not in names:
                raise _bad(
                    f"mcp_toolset names mcp_server_name {name!r}, which is not in mcp_servers"
                )
            if name in referenced:
                raise _bad(f"more than one mcp_toolset for mcp server {name!r}")
            referenced.append(name)
        elif tool["type"] == "custom":
            if tool["name"] in customs:
                raise _bad(f"custom tool name {tool['name']!r} is used more than once")
            customs.append(tool["name"])
        else:
            toolsets += 1
    if toolsets > 1:
        raise _bad("at most one agent_toolset_20260401 is allowed")
    unreferenced = [name for name in names if name not in referenced]
    if unreferenced:
        raise _bad(
            f"mcp_servers {', '.join(map(repr, unreferenced))} not referenced by any mcp_toolset "
            "in tools; unreferenced servers are rejected"
        )


def _resolve_model(spec: str | _ModelConfigIn, previous: dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = _ModelConfigIn(id=spec)
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


def _resolve_skills(skills: list[_SkillIn]) -> list[dict[str, Any]]:
    return [
        {"type": skill.type, "skill_id": skill.skill_id, "version": skill.version or "latest"}
        for skill in skills
    ]


_SESSION_AGENT_KEYS = (
    "type",
    "id",
    "version",
    "name",
    "description",
    "system",
    "model",
    "execution_identity",
    "mcp_servers",
    "tools",
    "skills",
    "multiagent",
)
_AGENT_CONFIG_KEYS = (*_SESSION_AGENT_KEYS[3:], "metadata")

_HOSTNAME = re.compile(r"^[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*$")
_WILDCARD = re.compile(r"^\*\.[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")


def _check_hosts(hosts: list[str]) -> None:
    for host in hosts:
        if not (_HOSTNAME.match(host) or _WILDCARD.match(host)):
            raise _bad(
                f"allowed_hosts entry {host!r} must be a bare hostname, an IPv4 address or "
                "a *.domain wildcard (no scheme, port or path)"
            )


def _credential_key(auth: dict[str, Any]) -> str:
    if auth["type"] == "environment_variable":
        return "env:" + auth["secret_name"]
    return "url:" + normalize_mcp_url(auth["mcp_server_url"])


# --------------------------------------------------------------------------- pagination


@dataclass
class _Listing:
    scope: str
    limit: int
    page: str | None
    order: Literal["asc", "desc"]
    bidirectional: bool = False


def _encode_cursor(scope: str, order: str, key: int, direction: str) -> str:
    raw = json.dumps({"s": scope, "o": order, "k": key, "d": direction}, separators=(",", ":"))
    return "page_" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, scope: str, order: str) -> tuple[int, str]:
    try:
        if not cursor.startswith("page_"):
            raise ValueError(cursor)
        data = cursor[5:]
        decoded = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        key, direction = int(decoded["k"]), str(decoded["d"])
        cursor_scope, cursor_order = decoded["s"], decoded["o"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _bad(f"page {cursor!r} is not a valid page cursor") from exc
    if cursor_scope != scope:
        raise _bad("page cursor belongs to another listing")
    if cursor_order != order:
        raise _bad(
            f"page cursor was made with order={cursor_order}; it cannot be used with {order}"
        )
    return key, direction


def _paginate(rows: list[tuple[int, dict[str, Any]]], listing: _Listing) -> dict[str, Any]:
    ascending = listing.order == "asc"
    rows = sorted(rows, key=lambda row: row[0], reverse=not ascending)
    keys = [key for key, _ in rows]
    start, end = 0, listing.limit
    if listing.page:
        key, direction = _decode_cursor(listing.page, listing.scope, listing.order)
        if direction == "next":
            start = sum(1 for k in keys if (k <= key if ascending else k >= key))
            end = start + listing.limit
        else:
            end = sum(1 for k in keys if (k < key if ascending else k > key))
            start = max(0, end - listing.limit)
    window = rows[start:end]
    page: dict[str, Any] = {
        "data": [copy.deepcopy(body) for _, body in window],
        "next_page": (
            _encode_cursor(listing.scope, listing.order, window[-1][0], "next")
            if window and start + len(window) < len(rows)
            else None
        ),
    }
    if listing.bidirectional:
        page["prev_page"] = (
            _encode_cursor(listing.scope, listing.order, window[0][0], "prev")
            if window and start > 0
            else None
        )
    return page


# --------------------------------------------------------------------------- session events


def agent_message(text: str) -> Event:
    return {
        "type": "agent.message",
        "id": new_id("sevt_"),
        "content": [{"type": "text", "text": text}],
    }


def agent_custom_tool_use(name: str, tool_input: dict[str, Any]) -> Event:
    return {
        "type": "agent.custom_tool_use",
        "id": new_id("sevt_"),
        "name": name,
        "input": tool_input,
    }


def agent_mcp_tool_use(
    server_name: str,
    name: str,
    tool_input: dict[str, Any],
    *,
    permission: Literal["allow", "ask", "deny"] = "ask",
) -> Event:
    return {
        "type": "agent.mcp_tool_use",
        "id": new_id("sevt_"),
        "mcp_server_name": server_name,
        "name": name,
        "input": tool_input,
        "evaluated_permission": permission,
    }


def agent_mcp_tool_result(tool_use_id: str, text: str, *, is_error: bool = False) -> Event:
    return {
        "type": "agent.mcp_tool_result",
        "id": new_id("sevt_"),
        "mcp_tool_use_id": tool_use_id,
        "content": [{"type": "text", "text": text}],
        "is_error": is_error,
    }


def status_running() -> Event:
    return {"type": "session.status_running", "id": new_id("sevt_")}


def status_idle_end_turn() -> Event:
    return {
        "type": "session.status_idle",
        "id": new_id("sevt_"),
        "stop_reason": {"type": "end_turn"},
    }


def status_idle_requires_action(event_ids: list[str]) -> Event:
    return {
        "type": "session.status_idle",
        "id": new_id("sevt_"),
        "stop_reason": {"type": "requires_action", "event_ids": list(event_ids)},
    }


def status_terminated() -> Event:
    return {"type": "session.status_terminated", "id": new_id("sevt_")}


def session_error_mcp_auth_failed(
    server_name: str, message: str = "authentication failed"
) -> Event:
    return {
        "type": "session.error",
        "id": new_id("sevt_"),
        "error": {
            "type": "mcp_authentication_failed_error",
            "mcp_server_name": server_name,
            "message": message,
            "retry_status": {"type": "retrying"},
        },
    }


@functools.cache
def _event_models() -> dict[str, type[BaseModel]]:
    union = get_args(BetaManagedAgentsSessionEvent)[0]
    models: dict[str, type[BaseModel]] = {}
    for model in get_args(union):
        (kind,) = get_args(model.model_fields["type"].annotation)
        models[kind] = model
    return models


def _check_event(event: Event) -> None:
    """Hold scripted events to the SDK's own model of their type, so a bad script fails here
    with a precise message rather than in the client's stream parser."""
    model = _event_models().get(event.get("type", ""))
    if model is None:
        raise ValueError(f"{event.get('type')!r} is not a session event type the SDK knows")
    try:
        model.model_validate(event)
    except ValidationError as exc:
        raise ValueError(f"{event['type']} event does not match the SDK model: {exc}") from exc


_STATUS_BY_EVENT = {
    "session.status_running": "running",
    "session.status_idle": "idle",
    "session.status_terminated": "terminated",
    "session.status_rescheduled": "rescheduling",
}


# --------------------------------------------------------------------------- state


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str


@dataclass
class FailureRule:
    """One injected failure: the next ``remaining`` matching requests get ``status``."""

    method: str
    path_glob: str
    status: int
    remaining: int
    headers: dict[str, str]
    body: Any


@dataclass
class _Record:
    seq: int
    body: dict[str, Any]


@dataclass
class _AgentRecord:
    seq: int
    versions: list[dict[str, Any]]


@dataclass
class _SessionRecord:
    seq: int
    body: dict[str, Any]
    from_overrides: bool
    had_budget: bool
    events: list[tuple[int, Event]] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)
    blocking: list[str] = field(default_factory=list)
    responses: list[Event] = field(default_factory=list)


class _Subscriber:
    def __init__(self, session_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.session_id = session_id
        self.loop = loop
        self.queue: asyncio.Queue[Event | str] = asyncio.Queue()

    def push(self, item: Event | str) -> None:
        # Called from any thread: the queue belongs to the server's event loop, which may
        # already be closed (the server is gone, and so is the stream).
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


_CLOSE = "close"
_ABORT = "abort"


class ManagedAgentsState:
    """Everything the fake platform holds, plus the hooks tests drive it with. Thread-safe."""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.handler_errors: list[BaseException] = []
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._agents: dict[str, _AgentRecord] = {}
        self._sessions: dict[str, _SessionRecord] = {}
        self._environments: dict[str, _Record] = {}
        self._vaults: dict[str, _Record] = {}
        self._credentials: dict[str, _Record] = {}
        self._secrets: dict[str, dict[str, str]] = {}
        self._failures: list[FailureRule] = []
        self._message_handlers: dict[str | None, MessageHandler] = {}
        self._tool_handlers: dict[str | None, ToolResponseHandler] = {}
        self._subscribers: list[_Subscriber] = []

    # ----------------------------------------------------------------- test hooks

    def secret_for(self, vault_id: str, credential_id: str) -> str:
        """The secret the platform holds for an active credential (token, access token or
        secret value). For tests only: it is never served over HTTP."""
        with self._lock:
            record = self._credentials.get(credential_id)
            if record is None or record.body["vault_id"] != vault_id:
                raise LookupError(f"no credential {credential_id} in vault {vault_id}")
            if record.body["archived_at"] is not None:
                raise LookupError(f"credential {credential_id} is archived; its secret is purged")
            return self._secrets[credential_id]["secret"]

    def resolve_credential(
        self, vault_ids: list[str], mcp_server_url: str
    ) -> tuple[str, dict[str, Any]] | None:
        """The credential the platform would inject for ``mcp_server_url`` in a session with
        ``vault_ids``: normalised URL match, active MCP credentials only, first vault wins."""
        wanted = normalize_mcp_url(mcp_server_url)
        with self._lock:
            for vault_id in vault_ids:
                vault = self._vaults.get(vault_id)
                if vault is None or vault.body["archived_at"] is not None:
                    continue
                for record in sorted(self._credentials.values(), key=lambda r: r.seq):
                    body = record.body
                    if (
                        body["vault_id"] == vault_id
                        and body["archived_at"] is None
                        and body["auth"]["type"] in ("static_bearer", "mcp_oauth")
                        and normalize_mcp_url(body["auth"]["mcp_server_url"]) == wanted
                    ):
                        return vault_id, copy.deepcopy(body)
        return None

    def fail_next(
        self,
        method: str,
        path_glob: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> FailureRule:
        """Answer the next ``times`` requests matching ``method`` (or ``*``) and ``path_glob``
        (fnmatch, on the path without query) with ``status``, before auth is checked. The body
        defaults to the error envelope for that status."""
        rule = FailureRule(
            method=method.upper(),
            path_glob=path_glob,
            status=status,
            remaining=times,
            headers=dict(headers or {}),
            body=body,
        )
        with self._lock:
            self._failures.append(rule)
        return rule

    def on_user_message(self, session_id: str | None, handler: MessageHandler) -> None:
        """Script the agent's reply to a ``user.message`` in ``session_id`` (None: any session
        without its own handler). ``handler(session, text)`` returns the events to emit after
        ``session.status_running``; without a handler the agent just ends its turn."""
        with self._lock:
            self._message_handlers[session_id] = handler

    def on_tool_response(self, session_id: str | None, handler: ToolResponseHandler) -> None:
        """Script what follows once every blocking tool use is answered: ``handler(session,
        responses)`` gets the ``user.custom_tool_result``/``user.tool_confirmation`` events
        that resolved the block and returns the events to emit after ``status_running``."""
        with self._lock:
            self._tool_handlers[session_id] = handler

    def emit(self, session_id: str, events: list[Event]) -> list[Event]:
        """Append platform events to a session (ids kept or assigned, ``processed_at`` set),
        update its status, and push them to its open streams."""
        with self._lock:
            record = self._session(session_id)
            stored = self._store_events(record, events)
        self._push(session_id, stored)
        return copy.deepcopy(stored)

    def drop_streams(self, session_id: str | None = None, *, abort: bool = False) -> int:
        """End the open event streams (of one session, or all): cleanly, or with ``abort`` by
        breaking the connection mid-body. Returns how many were cut."""
        with self._lock:
            cut = [s for s in self._subscribers if session_id in (None, s.session_id)]
        for subscriber in cut:
            subscriber.push(_ABORT if abort else _CLOSE)
        return len(cut)

    def open_streams(self, session_id: str | None = None) -> int:
        with self._lock:
            return sum(1 for s in self._subscribers if session_id in (None, s.session_id))

    def events(self, session_id: str) -> list[Event]:
        with self._lock:
            return [copy.deepcopy(event) for _, event in self._session(session_id).events]

    # ----------------------------------------------------------------- plumbing

    def _record_request(self, method: str, path: str, query: str) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query))

    def _take_failure(self, method: str, path: str) -> FailureRule | None:
        with self._lock:
            for rule in self._failures:
                if (
                    rule.remaining > 0
                    and rule.method in ("*", method)
                    and fnmatch.fnmatchcase(path, rule.path_glob)
                ):
                    rule.remaining -= 1
                    return rule
        return None

    def _subscribe(self, session_id: str, loop: asyncio.AbstractEventLoop) -> _Subscriber:
        with self._lock:
            self._session(session_id)
            subscriber = _Subscriber(session_id, loop)
            self._subscribers.append(subscriber)
            return subscriber

    def _unsubscribe(self, subscriber: _Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    # ----------------------------------------------------------------- agents

    def _agent(self, agent_id: str) -> _AgentRecord:
        record = self._agents.get(agent_id)
        if record is None:
            raise _not_found("Agent", agent_id)
        return record

    def _create_agent(self, body: _AgentCreate) -> dict[str, Any]:
        _check_metadata(body.metadata)
        servers = _resolve_servers(body.mcp_servers)
        tools = [_resolve_tool(tool) for tool in body.tools]
        _check_agent_tools(servers, tools)
        stamp = _ts(_now())
        agent: dict[str, Any] = {
            "type": "agent",
            "id": new_id("agent_"),
            "version": 1,
            "name": body.name,
            "description": body.description or None,
            "system": body.system or None,
            "model": _resolve_model(body.model, None),
            "execution_identity": {"type": "service_account"},
            "mcp_servers": servers,
            "tools": tools,
            "skills": _resolve_skills(body.skills),
            "metadata": dict(body.metadata),
            "multiagent": None,
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
        }
        with self._lock:
            self._agents[agent["id"]] = _AgentRecord(next(self._seq), [agent])
        return copy.deepcopy(agent)

    def _get_agent(self, agent_id: str, version: int | None = None) -> dict[str, Any]:
        with self._lock:
            record = self._agent(agent_id)
            if version is None:
                return copy.deepcopy(record.versions[-1])
            if not 1 <= version <= len(record.versions):
                raise _not_found("Agent version", f"{agent_id}@{version}")
            snapshot = copy.deepcopy(record.versions[version - 1])
            snapshot["archived_at"] = record.versions[-1]["archived_at"]
            return snapshot

    def _update_agent(self, agent_id: str, body: _AgentUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        with self._lock:
            record = self._agent(agent_id)
            current = record.versions[-1]
            if current["archived_at"] is not None:
                raise _bad(f"Agent {agent_id} is archived and cannot be updated")
            if "version" in given:
                if body.version is None:
                    raise _bad("version must be an integer >= 1 when given")
                if body.version != current["version"]:
                    raise _conflict(
                        f"Agent {agent_id} is at version {current['version']}, not "
                        f"{body.version}; re-read it and retry"
                    )
            updated = copy.deepcopy(current)
            for name in ("name", "model"):
                if name in given and getattr(body, name) is None:
                    raise _bad(f"{name} cannot be cleared")
            if body.name is not None:
                updated["name"] = body.name
            if body.model is not None:
                updated["model"] = _resolve_model(body.model, current["model"])
            for name in ("description", "system"):
                if name in given:
                    updated[name] = getattr(body, name) or None
            if "mcp_servers" in given:
                updated["mcp_servers"] = _resolve_servers(body.mcp_servers or [])
            if "tools" in given:
                updated["tools"] = [_resolve_tool(tool) for tool in body.tools or []]
            if "skills" in given:
                updated["skills"] = _resolve_skills(body.skills or [])
            if "metadata" in given and body.metadata is not None:
                updated["metadata"] = _patch_metadata(current["metadata"], body.metadata)
            _check_agent_tools(updated["mcp_servers"], updated["tools"])
            if all(updated[key] == current[key] for key in _AGENT_CONFIG_KEYS):
                return copy.deepcopy(current)
            updated["version"] = current["version"] + 1
            updated["updated_at"] = _ts(_now())
            record.versions.append(updated)
            return copy.deepcopy(updated)

    def _list_agents(
        self,
        listing: _Listing,
        *,
        include_archived: bool,
        created_gte: datetime | None,
        created_lte: datetime | None,
    ) -> dict[str, Any]:
        with self._lock:
            rows = []
            for record in self._agents.values():
                agent = record.versions[-1]
                created = _parse_ts(agent["created_at"])
                if agent["archived_at"] is not None and not include_archived:
                    continue
                if (created_gte and created < created_gte) or (
                    created_lte and created > created_lte
                ):
                    continue
                rows.append((record.seq, agent))
            return _paginate(rows, listing)

    def _list_agent_versions(self, agent_id: str, listing: _Listing) -> dict[str, Any]:
        with self._lock:
            record = self._agent(agent_id)
            archived_at = record.versions[-1]["archived_at"]
            rows = [
                (version["version"], {**version, "archived_at": archived_at})
                for version in record.versions
            ]
            return _paginate(rows, listing)

    def _archive_agent(self, agent_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._agent(agent_id)
            current = record.versions[-1]
            if current["archived_at"] is None:
                current["archived_at"] = _ts(_now())
            return copy.deepcopy(current)

    # ----------------------------------------------------------------- environments

    def _environment(self, env_id: str, *, error_code: str | None = None) -> _Record:
        record = self._environments.get(env_id)
        if record is None:
            raise _not_found("Environment", env_id, error_code=error_code)
        return record

    def _check_environment_name(self, name: str, *, exclude: str | None = None) -> None:
        for record in self._environments.values():
            body = record.body
            if body["id"] != exclude and body["archived_at"] is None and body["name"] == name:
                raise _conflict(f"an environment named {name!r} already exists ({body['id']})")

    def _create_environment(self, body: _EnvironmentCreate) -> dict[str, Any]:
        _check_metadata(body.metadata)
        if body.scope == "account":
            raise _bad("scope 'account' is not supported for API organizations")
        config = _environment_config(body.config, None)
        stamp = _ts(_now())
        environment: dict[str, Any] = {
            "type": "environment",
            "id": new_id("env_"),
            "name": body.name,
            "description": body.description,
            "scope": "organization",
            "metadata": dict(body.metadata),
            "config": config,
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
        }
        with self._lock:
            self._check_environment_name(body.name)
            self._environments[environment["id"]] = _Record(next(self._seq), environment)
        return copy.deepcopy(environment)

    def _get_environment(self, env_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._environment(env_id).body)

    def _update_environment(self, env_id: str, body: _EnvironmentUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        with self._lock:
            record = self._environment(env_id)
            current = record.body
            if current["archived_at"] is not None:
                raise _bad(f"Environment {env_id} is archived", error_code="environment_archived")
            updated = copy.deepcopy(current)
            if "name" in given:
                if body.name is None:
                    raise _bad("name cannot be cleared")
                self._check_environment_name(body.name, exclude=env_id)
                updated["name"] = body.name
            if "description" in given:
                updated["description"] = body.description
            if "metadata" in given:
                if body.metadata is None:
                    raise _bad("metadata must be an object")
                updated["metadata"] = _patch_metadata(
                    current["metadata"], body.metadata, empty_deletes=True
                )
            if "scope" in given and body.scope == "account":
                raise _bad("scope 'account' is not supported for API organizations")
            if body.config is not None:
                updated["config"] = _environment_config(body.config, current["config"])
            if updated != current:
                updated["updated_at"] = _ts(_now())
            record.body = updated
            return copy.deepcopy(updated)

    def _list_environments(self, listing: _Listing, *, include_archived: bool) -> dict[str, Any]:
        with self._lock:
            rows = [
                (record.seq, record.body)
                for record in self._environments.values()
                if include_archived or record.body["archived_at"] is None
            ]
            return _paginate(rows, listing)

    def _archive_environment(self, env_id: str) -> dict[str, Any]:
        with self._lock:
            body = self._environment(env_id).body
            if body["archived_at"] is None:
                body["archived_at"] = _ts(_now())
            return copy.deepcopy(body)

    def _delete_environment(self, env_id: str) -> dict[str, Any]:
        with self._lock:
            self._environment(env_id)
            del self._environments[env_id]
        return {"id": env_id, "type": "environment_deleted"}

    # ----------------------------------------------------------------- vaults

    def _vault(self, vault_id: str) -> _Record:
        record = self._vaults.get(vault_id)
        if record is None:
            raise _not_found("Vault", vault_id)
        return record

    def _create_vault(self, body: _VaultCreate) -> dict[str, Any]:
        _check_metadata(body.metadata)
        stamp = _ts(_now())
        vault: dict[str, Any] = {
            "type": "vault",
            "id": new_id("vlt_"),
            "display_name": body.display_name,
            "metadata": dict(body.metadata),
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
        }
        with self._lock:
            self._vaults[vault["id"]] = _Record(next(self._seq), vault)
        return copy.deepcopy(vault)

    def _get_vault(self, vault_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._vault(vault_id).body)

    def _update_vault(self, vault_id: str, body: _VaultUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        with self._lock:
            record = self._vault(vault_id)
            if record.body["archived_at"] is not None:
                raise _bad(f"Vault {vault_id} is archived and cannot be updated")
            updated = copy.deepcopy(record.body)
            if "display_name" in given:
                if body.display_name is None:
                    raise _bad("display_name cannot be cleared")
                updated["display_name"] = body.display_name
            if body.metadata is not None:
                updated["metadata"] = _patch_metadata(updated["metadata"], body.metadata)
            if updated != record.body:
                updated["updated_at"] = _ts(_now())
            record.body = updated
            return copy.deepcopy(updated)

    def _list_vaults(self, listing: _Listing, *, include_archived: bool) -> dict[str, Any]:
        with self._lock:
            rows = [
                (record.seq, record.body)
                for record in self._vaults.values()
                if include_archived or record.body["archived_at"] is None
            ]
            return _paginate(rows, listing)

    def _archive_vault(self, vault_id: str) -> dict[str, Any]:
        with self._lock:
            body = self._vault(vault_id).body
            if body["archived_at"] is None:
                stamp = _ts(_now())
                body["archived_at"] = stamp
                for record in self._credentials.values():
                    if record.body["vault_id"] == vault_id and record.body["archived_at"] is None:
                        self._archive_credential_record(record, stamp)
            return copy.deepcopy(body)

    def _delete_vault(self, vault_id: str) -> dict[str, Any]:
        with self._lock:
            self._vault(vault_id)
            del self._vaults[vault_id]
            for cred_id in [
                c for c, r in self._credentials.items() if r.body["vault_id"] == vault_id
            ]:
                del self._credentials[cred_id]
                self._secrets.pop(cred_id, None)
        return {"id": vault_id, "type": "vault_deleted"}

    # ----------------------------------------------------------------- credentials

    def _credential(self, vault_id: str, credential_id: str) -> _Record:
        self._vault(vault_id)
        record = self._credentials.get(credential_id)
        if record is None or record.body["vault_id"] != vault_id:
            raise _not_found("Credential", credential_id)
        return record

    def _create_credential(self, vault_id: str, body: _CredentialCreate) -> dict[str, Any]:
        _check_metadata(body.metadata)
        auth, secret = _credential_auth(body.auth)
        key = _credential_key(auth)
        stamp = _ts(_now())
        credential: dict[str, Any] = {
            "type": "vault_credential",
            "id": new_id("vcrd_"),
            "vault_id": vault_id,
            "display_name": body.display_name,
            "metadata": dict(body.metadata),
            "auth": auth,
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
        }
        with self._lock:
            vault = self._vault(vault_id)
            if vault.body["archived_at"] is not None:
                raise _bad(f"Vault {vault_id} is archived; credentials cannot be added")
            active = [
                record.body
                for record in self._credentials.values()
                if record.body["vault_id"] == vault_id and record.body["archived_at"] is None
            ]
            for other in active:
                if _credential_key(other["auth"]) == key:
                    what = key.split(":", 1)[0]
                    value = auth["secret_name"] if what == "env" else auth["mcp_server_url"]
                    field_name = "secret_name" if what == "env" else "mcp_server_url"
                    raise _conflict(
                        f"Vault {vault_id} already has an active credential {other['id']} with "
                        f"{field_name} {value!r}; archive it or update it instead"
                    )
            if len(active) >= MAX_CREDENTIALS_PER_VAULT:
                raise _bad(
                    f"Vault {vault_id} already has {MAX_CREDENTIALS_PER_VAULT} active "
                    "credentials, the maximum"
                )
            self._credentials[credential["id"]] = _Record(next(self._seq), credential)
            self._secrets[credential["id"]] = secret
        return copy.deepcopy(credential)

    def _get_credential(self, vault_id: str, credential_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._credential(vault_id, credential_id).body)

    def _update_credential(
        self, vault_id: str, credential_id: str, body: _CredentialUpdate
    ) -> dict[str, Any]:
        with self._lock:
            record = self._credential(vault_id, credential_id)
            current = record.body
            if current["archived_at"] is not None:
                raise _bad(f"Credential {credential_id} is archived and cannot be updated")
            updated = copy.deepcopy(current)
            secret = dict(self._secrets[credential_id])
            if body.auth is not None:
                updated["auth"] = _update_auth(current["auth"], body.auth, secret)
            if "display_name" in body.model_fields_set:
                updated["display_name"] = body.display_name
            if body.metadata is not None:
                updated["metadata"] = _patch_metadata(current["metadata"], body.metadata)
            updated["updated_at"] = _ts(_now())
            record.body = updated
            self._secrets[credential_id] = secret
            return copy.deepcopy(updated)

    def _list_credentials(
        self, vault_id: str, listing: _Listing, *, include_archived: bool
    ) -> dict[str, Any]:
        with self._lock:
            self._vault(vault_id)
            rows = [
                (record.seq, record.body)
                for record in self._credentials.values()
                if record.body["vault_id"] == vault_id
                and (include_archived or record.body["archived_at"] is None)
            ]
            return _paginate(rows, listing)

    def _archive_credential_record(self, record: _Record, stamp: str) -> None:
        record.body["archived_at"] = stamp
        self._secrets.pop(record.body["id"], None)

    def _archive_credential(self, vault_id: str, credential_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._credential(vault_id, credential_id)
            if record.body["archived_at"] is None:
                self._archive_credential_record(record, _ts(_now()))
            return copy.deepcopy(record.body)

    def _delete_credential(self, vault_id: str, credential_id: str) -> dict[str, Any]:
        with self._lock:
            self._credential(vault_id, credential_id)
            del self._credentials[credential_id]
            self._secrets.pop(credential_id, None)
        return {"id": credential_id, "type": "vault_credential_deleted"}

    # ----------------------------------------------------------------- sessions

    def _session(self, session_id: str) -> _SessionRecord:
        record = self._sessions.get(session_id)
        if record is None:
            raise _not_found("Session", session_id)
        return record

    def _session_agent(self, spec: str | _AgentRefIn | _AgentOverridesIn) -> dict[str, Any]:
        agent_id = spec if isinstance(spec, str) else spec.id
        version = None if isinstance(spec, str) else spec.version
        record = self._agent(agent_id)
        if record.versions[-1]["archived_at"] is not None:
            raise _bad(f"Agent {agent_id} is archived; sessions cannot be created from it")
        if version is not None and not 1 <= version <= len(record.versions):
            raise _not_found("Agent version", f"{agent_id}@{version}")
        source = record.versions[-1 if version is None else version - 1]
        snapshot = {key: copy.deepcopy(source[key]) for key in _SESSION_AGENT_KEYS}
        if isinstance(spec, _AgentOverridesIn):
            given = spec.model_fields_set
            if spec.model is not None:
                snapshot["model"] = _resolve_model(spec.model, snapshot["model"])
            if "system" in given:
                snapshot["system"] = spec.system or None
            if spec.tools is not None:
                snapshot["tools"] = [_resolve_tool(tool) for tool in spec.tools]
            if spec.mcp_servers is not None:
                snapshot["mcp_servers"] = _resolve_servers(spec.mcp_servers)
            if spec.skills is not None:
                snapshot["skills"] = _resolve_skills(spec.skills)
            _check_agent_tools(snapshot["mcp_servers"], snapshot["tools"])
        return snapshot

    def _create_session(self, body: _SessionCreate) -> tuple[dict[str, Any], list[Event]]:
        _check_metadata(body.metadata)
        if "budget" in body.model_fields_set and body.budget is None:
            raise _bad("budget must be an object when given; omit it for no budget")
        if body.resources:
            raise _bad("resources are not supported by this fake")
        if len(set(body.vault_ids)) != len(body.vault_ids):
            raise _bad("vault_ids contains duplicates")
        with self._lock:
            snapshot = self._session_agent(body.agent)
            environment = self._environment(
                body.environment_id, error_code="environment_not_found"
            ).body
            if environment["archived_at"] is not None:
                raise _bad(
                    f"Environment {body.environment_id} is archived",
                    error_code="environment_archived",
                )
            for vault_id in body.vault_ids:
                if self._vault(vault_id).body["archived_at"] is not None:
                    raise _bad(f"Vault {vault_id} is archived")
            stamp = _ts(_now())
            session: dict[str, Any] = {
                "type": "session",
                "id": new_id("sesn_"),
                "status": "idle",
                "title": body.title,
                "environment_id": body.environment_id,
                "vault_ids": list(body.vault_ids),
                "agent": snapshot,
                "metadata": dict(body.metadata),
                "resources": [],
                "outcome_evaluations": [],
                "stats": {"active_seconds": 0.0, "duration_seconds": 0.0},
                "usage": {
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "active_seconds": 0.0,
                },
                "budget": body.budget.model_dump() if body.budget is not None else None,
                "deployment_id": None,
                "created_at": stamp,
                "updated_at": stamp,
                "archived_at": None,
            }
            record = _SessionRecord(
                next(self._seq),
                session,
                from_overrides=isinstance(body.agent, _AgentOverridesIn),
                had_budget=body.budget is not None,
            )
            self._sessions[session["id"]] = record
            echoed = self._store_events(record, [_user_event(e) for e in body.initial_events])
            created = copy.deepcopy(session)
            if echoed:
                # Created "running"; the stored status follows the events the platform emits.
                created["status"] = "running"
            return created, echoed

    def _get_session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._session(session_id).body)

    def _update_session(self, session_id: str, body: _SessionUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        if "vault_ids" in given:
            raise _bad("vault_ids cannot be changed after a session is created (not yet supported)")
        with self._lock:
            record = self._session(session_id)
            current = record.body
            if current["archived_at"] is not None:
                raise _bad(f"Session {session_id} is archived and read-only")
            updated = copy.deepcopy(current)
            if "title" in given:
                updated["title"] = body.title
            if "metadata" in given and body.metadata is not None:
                updated["metadata"] = _patch_metadata(current["metadata"], body.metadata)
            if "budget" in given:
                if current["status"] == "terminated":
                    raise _bad("budget cannot be changed on a terminated session")
                if not record.had_budget or (body.budget is not None and current["budget"] is None):
                    raise _bad("a budget can only be set when the session was created with one")
                updated["budget"] = body.budget.model_dump() if body.budget is not None else None
            if body.agent is not None:
                if record.from_overrides:
                    raise _bad(
                        "agent can only be updated on sessions created from an agent reference"
                    )
                if current["status"] == "running":
                    raise _bad("agent cannot be updated while the session is running")
                agent_given = body.agent.model_fields_set
                if "mcp_servers" in agent_given:
                    updated["agent"]["mcp_servers"] = _resolve_servers(body.agent.mcp_servers or [])
                if "tools" in agent_given:
                    updated["agent"]["tools"] = [
                        _resolve_tool(tool) for tool in body.agent.tools or []
                    ]
                _check_agent_tools(updated["agent"]["mcp_servers"], updated["agent"]["tools"])
            updated["updated_at"] = _ts(_now())
            record.body = updated
            return copy.deepcopy(updated)

    def _list_sessions(
        self,
        listing: _Listing,
        *,
        include_archived: bool,
        agent_id: str | None,
        agent_version: int | None,
        statuses: list[str],
        created: dict[str, datetime],
        deployment_id: str | None,
        memory_store_id: str | None,
    ) -> dict[str, Any]:
        with self._lock:
            rows = []
            for record in self._sessions.values():
                session = record.body
                if session["archived_at"] is not None and not include_archived:
                    continue
                if agent_id is not None and session["agent"]["id"] != agent_id:
                    continue
                if agent_version is not None and session["agent"]["version"] != agent_version:
                    continue
                if statuses and session["status"] not in statuses:
                    continue
                if deployment_id is not None and session["deployment_id"] != deployment_id:
                    continue
                if memory_store_id is not None:
                    continue  # sessions here never mount memory stores
                if not _in_range(_parse_ts(session["created_at"]), created):
                    continue
                rows.append((record.seq, session))
            return _paginate(rows, listing)

    def _archive_session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            body = self._session(session_id).body
            if body["archived_at"] is None:
                body["archived_at"] = _ts(_now())
            return copy.deepcopy(body)

    def _delete_session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            self._session(session_id)
            del self._sessions[session_id]
        self.drop_streams(session_id)
        return {"id": session_id, "type": "session_deleted"}

    def _list_events(
        self,
        session_id: str,
        listing: _Listing,
        *,
        types: list[str],
        processed: dict[str, datetime],
    ) -> dict[str, Any]:
        with self._lock:
            record = self._session(session_id)
            rows = [
                (seq, event)
                for seq, event in record.events
                if (not types or event["type"] in types)
                and (
                    not processed
                    or (
                        event.get("processed_at") is not None
                        and _in_range(_parse_ts(event["processed_at"]), processed)
                    )
                )
            ]
            return _paginate(rows, listing)

    def _store_events(self, record: _SessionRecord, events: list[Event]) -> list[Event]:
        prepared = [_stamp(event) for event in events]
        for event in prepared:
            self._store_event(record, event)
        return prepared

    def _store_event(self, record: _SessionRecord, stored: Event) -> None:
        record.events.append((next(self._seq), stored))
        status = _STATUS_BY_EVENT.get(stored["type"])
        if status is not None:
            record.body["status"] = status
            record.body["updated_at"] = stored["processed_at"]
        if stored["type"] == "session.status_idle":
            stop = stored.get("stop_reason") or {}
            record.blocking = (
                list(stop.get("event_ids", [])) if stop.get("type") == "requires_action" else []
            )

    def _send_events(self, session_id: str, body: _SendEvents) -> list[Event]:
        with self._lock:
            record = self._session(session_id)
            session = record.body
            if session["archived_at"] is not None:
                raise _conflict(f"Session {session_id} is archived; it cannot receive events")
            if session["status"] == "terminated":
                raise _bad(f"Session {session_id} is terminated")
            known = {event["id"]: event for _, event in record.events}
            answering: set[str] = set()
            for index, event in enumerate(body.events):
                target: str | None = None
                wanted: tuple[str, ...] = ()
                if isinstance(event, _CustomToolResultIn):
                    target, wanted = event.custom_tool_use_id, ("agent.custom_tool_use",)
                elif isinstance(event, _ToolConfirmationIn):
                    target, wanted = event.tool_use_id, ("agent.mcp_tool_use", "agent.tool_use")
                    if event.deny_message is not None and event.result != "deny":
                        raise _bad(f"events.{index}: deny_message is only allowed with result deny")
                if target is None:
                    continue
                source = known.get(target)
                if source is None or source["type"] not in wanted:
                    raise _bad(f"events.{index}: {target} is not a {' or '.join(wanted)} event")
                if target in record.answered or target in answering:
                    raise _bad(f"events.{index}: {target} has already been answered")
                if (
                    isinstance(event, _ToolConfirmationIn)
                    and source.get("evaluated_permission") != "ask"
                ):
                    raise _bad(f"events.{index}: {target} does not await a confirmation")
                answering.add(target)
            record.answered |= answering
            return self._store_events(record, [_user_event(event) for event in body.events])

    def _run_platform(self, session_id: str, echoed: list[Event]) -> None:
        """Play the agent's side for the user events just stored (in a worker thread)."""
        self._push(session_id, echoed)
        for index, event in enumerate(echoed):
            if _is_response(event) and index + 1 < len(echoed) and _is_response(echoed[index + 1]):
                # Answers sent together resolve the block together: no idle in between.
                with self._lock:
                    record = self._sessions.get(session_id)
                    if record is not None:
                        _note_response(record, event)
                continue
            step = self._next_step(session_id, event)
            if step is None:
                return
            script, resumes = step
            try:
                produced = list(script())
                with self._lock:
                    record = self._sessions.get(session_id)
                    if record is None:
                        return
                    if resumes and record.body["status"] != "running":
                        produced = [status_running(), *produced]
                self.emit(session_id, produced)
            except Exception as exc:
                with self._lock:
                    self.handler_errors.append(exc)
                raise

    def _next_step(
        self, session_id: str, event: Event
    ) -> tuple[Callable[[], list[Event]], bool] | None:
        """What the agent does after ``event``, and whether that resumes the session."""
        with self._lock:
            record = self._sessions.get(session_id)
            if record is None:
                return None
            session = copy.deepcopy(record.body)
            if event["type"] == "user.message":
                text = "".join(block["text"] for block in event["content"])
                on_message = self._message_handlers.get(
                    session_id, self._message_handlers.get(None)
                )
                if on_message is None:
                    return _end_turn, True
                return functools.partial(on_message, session, text), True
            if event["type"] == "user.interrupt":
                return _end_turn, False
            _note_response(record, event)
            if record.blocking:
                remaining = list(record.blocking)
                return (lambda: [status_idle_requires_action(remaining)]), False
            responses, record.responses = record.responses, []
            on_tool = self._tool_handlers.get(session_id, self._tool_handlers.get(None))
            if on_tool is None:
                return _end_turn, True
            return functools.partial(on_tool, session, responses), True

    def _push(self, session_id: str, events: list[Event]) -> None:
        with self._lock:
            subscribers = [s for s in self._subscribers if s.session_id == session_id]
        for event in events:
            for subscriber in subscribers:
                subscriber.push(copy.deepcopy(event))


def _stamp(event: Event) -> Event:
    stamped = copy.deepcopy(event)
    stamped.setdefault("id", new_id("sevt_"))
    stamped["processed_at"] = _ts(_now())
    _check_event(stamped)
    return stamped


def _end_turn() -> list[Event]:
    return [status_idle_end_turn()]


def _is_response(event: Event) -> bool:
    return event["type"] in ("user.custom_tool_result", "user.tool_confirmation")


def _note_response(record: _SessionRecord, event: Event) -> None:
    target = event.get("custom_tool_use_id") or event["tool_use_id"]
    record.responses.append(copy.deepcopy(event))
    if target in record.blocking:
        record.blocking.remove(target)


def _user_event(event: BaseModel) -> Event:
    return event.model_dump(exclude_none=True)


def _in_range(moment: datetime, bounds: dict[str, datetime]) -> bool:
    checks = {
        "gt": lambda bound: moment > bound,
        "gte": lambda bound: moment >= bound,
        "lt": lambda bound: moment < bound,
        "lte": lambda bound: moment <= bound,
    }
    return all(checks[op](bound) for op, bound in bounds.items())


def _environment_config(
    config: _CloudConfigIn | _SelfHostedIn | None, current: dict[str, Any] | None
) -> dict[str, Any]:
    if config is None:
        config = _CloudConfigIn(type="cloud")
    if current is not None and current["type"] != config.type:
        raise _bad(
            f"config.type cannot change from {current['type']} to {config.type}",
            error_code="invalid_config_type_change",
        )
    if isinstance(config, _SelfHostedIn):
        return {"type": "self_hosted"}
    previous_net = current["networking"] if current is not None else {"type": "unrestricted"}
    networking = dict(previous_net)
    if config.networking is not None:
        if isinstance(config.networking, _UnrestrictedIn):
            networking = {"type": "unrestricted"}
        else:
            base = previous_net if previous_net["type"] == "limited" else {}
            given = config.networking
            networking = {
                "type": "limited",
                "allowed_hosts": list(
                    given.allowed_hosts
                    if given.allowed_hosts is not None
                    else base.get("allowed_hosts", [])
                ),
                "allow_mcp_servers": (
                    given.allow_mcp_servers
                    if given.allow_mcp_servers is not None
                    else base.get("allow_mcp_servers", False)
                ),
                "allow_package_managers": (
                    given.allow_package_managers
                    if given.allow_package_managers is not None
                    else base.get("allow_package_managers", False)
                ),
            }
    managers = ("apt", "cargo", "gem", "go", "npm", "pip")
    previous_packages = current["packages"] if current is not None else {}
    packages: dict[str, Any] = {"type": "packages"}
    for manager in managers:
        value = getattr(config.packages, manager) if config.packages is not None else None
        packages[manager] = list(value if value is not None else previous_packages.get(manager, []))
    if (
        networking["type"] == "limited"
        and any(packages[m] for m in managers)
        and not networking["allow_package_managers"]
    ):
        raise _bad("packages under limited networking need networking.allow_package_managers=true")
    return {"type": "cloud", "networking": networking, "packages": packages}


def _credential_auth(
    auth: _StaticBearerCreate | _OAuthCreate | _EnvVarCreate,
) -> tuple[dict[str, Any], dict[str, str]]:
    if isinstance(auth, _StaticBearerCreate):
        if not _is_http_url(auth.mcp_server_url):
            raise _bad(f"auth.mcp_server_url {auth.mcp_server_url!r} is not an http(s) URL")
        return {"type": "static_bearer", "mcp_server_url": auth.mcp_server_url}, {
            "secret": auth.token
        }
    if isinstance(auth, _OAuthCreate):
        if not _is_http_url(auth.mcp_server_url):
            raise _bad(f"auth.mcp_server_url {auth.mcp_server_url!r} is not an http(s) URL")
        resolved: dict[str, Any] = {"type": "mcp_oauth", "mcp_server_url": auth.mcp_server_url}
        secret = {"secret": auth.access_token}
        if auth.expires_at is not None:
            resolved["expires_at"] = _ts(_future(auth.expires_at))
        if auth.refresh is not None:
            refresh = auth.refresh
            resolved["refresh"] = {
                "client_id": refresh.client_id,
                "token_endpoint": refresh.token_endpoint,
                "token_endpoint_auth": {"type": refresh.token_endpoint_auth.type},
                "scope": refresh.scope,
                "resource": refresh.resource,
            }
            secret["refresh_token"] = refresh.refresh_token
            if isinstance(refresh.token_endpoint_auth, _TokenAuthSecretIn):
                secret["client_secret"] = refresh.token_endpoint_auth.client_secret
        return resolved, secret
    if isinstance(auth.networking, _NetworkLimitedIn):
        _check_hosts(auth.networking.allowed_hosts)
    location = auth.injection_location or _InjectionIn(header=True, body=True)
    if not (location.header or location.body):
        raise _bad("auth.injection_location must enable header or body")
    return {
        "type": "environment_variable",
        "secret_name": auth.secret_name,
        "networking": auth.networking.model_dump(),
        "injection_location": {"header": location.header, "body": location.body},
    }, {"secret": auth.secret_value}


def _future(moment: datetime) -> datetime:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= _now():
        raise _bad("auth.expires_at must be in the future")
    return moment


def _check_auth_update(current: dict[str, Any], raw: dict[str, Any]) -> None:
    auth = raw.get("auth")
    if not isinstance(auth, dict):
        return
    kind = current["auth"]["type"]
    if "type" in auth and auth["type"] != kind:
        raise _bad(f"auth.type cannot change (the credential is {kind}, not {auth['type']!r})")
    for name in _IMMUTABLE_AUTH_FIELDS[kind]:
        if name in auth:
            raise _bad(f"auth.{name} is immutable; archive this credential and create a new one")
    refresh = auth.get("refresh")
    if kind == "mcp_oauth" and isinstance(refresh, dict):
        for name in _IMMUTABLE_REFRESH_FIELDS:
            if name in refresh:
                raise _bad(f"auth.refresh.{name} is immutable")


def _update_auth(
    current: dict[str, Any],
    auth: _StaticBearerUpdate | _OAuthUpdate | _EnvVarUpdate,
    secret: dict[str, str],
) -> dict[str, Any]:
    updated = copy.deepcopy(current)
    if isinstance(auth, _StaticBearerUpdate):
        if auth.token is not None:
            secret["secret"] = auth.token
    elif isinstance(auth, _OAuthUpdate):
        if auth.access_token is not None:
            secret["secret"] = auth.access_token
        if auth.expires_at is not None:
            updated["expires_at"] = _ts(_future(auth.expires_at))
        if auth.refresh is not None:
            refresh = updated.get("refresh")
            if refresh is None:
                raise _bad("auth.refresh: this credential has no refresh configuration")
            given = auth.refresh
            if given.refresh_token is not None:
                secret["refresh_token"] = given.refresh_token
            if "scope" in given.model_fields_set:
                refresh["scope"] = given.scope or None
            if given.token_endpoint_auth is not None:
                if refresh["token_endpoint_auth"]["type"] == "none":
                    raise _bad(
                        "auth.refresh.token_endpoint_auth: the credential uses no client secret"
                    )
                if given.token_endpoint_auth.client_secret is not None:
                    secret["client_secret"] = given.token_endpoint_auth.client_secret
    else:
        if auth.secret_value is not None:
            secret["secret"] = auth.secret_value
        if auth.networking is not None:
            if isinstance(auth.networking, _NetworkLimitedIn):
                _check_hosts(auth.networking.allowed_hosts)
            updated["networking"] = auth.networking.model_dump()
        if auth.injection_location is not None:
            for name in ("header", "body"):
                value = getattr(auth.injection_location, name)
                if value is not None:
                    updated["injection_location"][name] = value
            if not any(updated["injection_location"].values()):
                raise _bad("auth.injection_location must enable header or body")
    return updated


# --------------------------------------------------------------------------- HTTP layer


Endpoint = Callable[[Request], Awaitable[Response]]


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _error_response(status: int, body: Any, request_id: str, headers: dict[str, str]) -> Response:
    if isinstance(body, dict) and body.get("type") == "error":
        body = {**body, "request_id": request_id}
    response = JSONResponse(body, status_code=status, headers=headers)
    if status == 409:
        response.headers.setdefault("x-should-retry", "false")
    return response


class _Query:
    def __init__(self, request: Request, allowed: set[str]) -> None:
        self.params = request.query_params
        unknown = sorted(set(self.params.keys()) - allowed)
        if unknown:
            raise _bad(f"unknown query parameter(s): {', '.join(unknown)}")

    def text(self, name: str) -> str | None:
        values = self.params.getlist(name)
        if len(values) > 1:
            raise _bad(f"query parameter {name} is given more than once")
        return values[0] if values else None

    def boolean(self, name: str) -> bool:
        value = self.text(name)
        if value is None:
            return False
        if value not in ("true", "false"):
            raise _bad(f"{name} must be true or false, not {value!r}")
        return value == "true"

    def integer(self, name: str, *, low: int, high: int | None = None) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not re.fullmatch(r"-?\d+", value) or int(value) < low or (high and int(value) > high):
            bounds = f"{low}..{high}" if high else f">= {low}"
            raise _bad(f"{name} must be an integer in {bounds}, not {value!r}")
        return int(value)

    def order(self, default: Literal["asc", "desc"]) -> Literal["asc", "desc"]:
        value = self.text("order")
        if value is None:
            return default
        if value == "asc":
            return "asc"
        if value == "desc":
            return "desc"
        raise _bad(f"order must be asc or desc, not {value!r}")

    def listing(
        self, scope: str, *, order: Literal["asc", "desc"], bidirectional: bool = False
    ) -> _Listing:
        limit = self.integer("limit", low=1, high=MAX_PAGE) or 20
        return _Listing(scope, limit, self.text("page"), order, bidirectional)

    def times(self, *ops: str) -> dict[str, datetime]:
        bounds = {}
        for op in ops:
            value = self.text(f"created_at[{op}]")
            if value is not None:
                try:
                    bounds[op] = _parse_ts(value)
                except ValueError as exc:
                    raise _bad(f"created_at[{op}] is not an RFC 3339 timestamp") from exc
        return bounds


_LIST = {"limit", "page", "include_archived"}


async def _empty_body(request: Request) -> None:
    raw = (await request.body()).strip()
    if raw and raw != b"{}":
        raise _bad("this endpoint takes no request body")


def _authenticate(request: Request, api_key: str) -> None:
    presented = request.headers.get("x-api-key")
    if presented is None:
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            presented = authorization[7:]
    if presented is None:
        raise _ApiError(401, "missing API key: send x-api-key or Authorization: Bearer")
    if not hmac.compare_digest(presented.encode(), api_key.encode()):
        raise _ApiError(401, "invalid x-api-key")


def _check_beta(request: Request) -> None:
    betas = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",")]
    if BETA not in betas:
        raise _bad(f"this endpoint requires the anthropic-beta header to include {BETA}")


def create_app(state: ManagedAgentsState) -> Starlette:
    """The fake API as a starlette app serving ``state``."""

    def wrap(handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            request_id = new_id("req_")
            state._record_request(request.method, request.url.path, unquote(request.url.query))
            rule = state._take_failure(request.method, request.url.path)
            if rule is not None:
                body = (
                    rule.body
                    if rule.body is not None
                    else error_body(rule.status, "injected failure")
                )
                response = _error_response(rule.status, body, request_id, rule.headers)
            else:
                try:
                    _authenticate(request, state.api_key)
                    _check_beta(request)
                    response = await handler(request)
                except _ApiError as exc:
                    body = error_body(exc.status, exc.message, error_code=exc.error_code)
                    response = _error_response(exc.status, body, request_id, {})
            response.headers["request-id"] = request_id
            return response

        return endpoint

    routes = [
        Route(path, wrap(handler), methods=[method]) for method, path, handler in _routes(state)
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = "not found" if status == 404 else str(getattr(exc, "detail", "error"))
        request_id = new_id("req_")
        response = _error_response(status, error_body(status, message), request_id, {})
        response.headers["request-id"] = request_id
        return response

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def _routes(state: ManagedAgentsState) -> list[tuple[str, str, Endpoint]]:
    async def create_agent(request: Request) -> Response:
        _Query(request, set())
        return _json(state._create_agent(_parse(_AgentCreate, await request.body())))

    async def get_agent(request: Request) -> Response:
        query = _Query(request, {"version"})
        version = query.integer("version", low=1)
        return _json(state._get_agent(request.path_params["agent_id"], version))

    async def update_agent(request: Request) -> Response:
        _Query(request, set())
        body = _parse(_AgentUpdate, await request.body())
        return _json(state._update_agent(request.path_params["agent_id"], body))

    async def list_agents(request: Request) -> Response:
        query = _Query(request, _LIST | {"created_at[gte]", "created_at[lte]"})
        times = query.times("gte", "lte")
        return _json(
            state._list_agents(
                query.listing("agents", order="desc"),
                include_archived=query.boolean("include_archived"),
                created_gte=times.get("gte"),
                created_lte=times.get("lte"),
            )
        )

    async def archive_agent(request: Request) -> Response:
        _Query(request, set())
        await _empty_body(request)
        return _json(state._archive_agent(request.path_params["agent_id"]))

    async def list_versions(request: Request) -> Response:
        query = _Query(request, {"limit", "page"})
        agent_id = request.path_params["agent_id"]
        listing = query.listing(f"versions:{agent_id}", order="desc")
        return _json(state._list_agent_versions(agent_id, listing))

    async def create_environment(request: Request) -> Response:
        _Query(request, set())
        return _json(state._create_environment(_parse(_EnvironmentCreate, await request.body())))

    async def get_environment(request: Request) -> Response:
        _Query(request, set())
        return _json(state._get_environment(request.path_params["environment_id"]))

    async def update_environment(request: Request) -> Response:
        _Query(request, set())
        body = _parse(_EnvironmentUpdate, await request.body())
        return _json(state._update_environment(request.path_params["environment_id"], body))

    async def list_environments(request: Request) -> Response:
        query = _Query(request, _LIST)
        return _json(
            state._list_environments(
                query.listing("environments", order="desc"),
                include_archived=query.boolean("include_archived"),
            )
        )

    async def archive_environment(request: Request) -> Response:
        _Query(request, set())
        await _empty_body(request)
        return _json(state._archive_environment(request.path_params["environment_id"]))

    async def delete_environment(request: Request) -> Response:
        _Query(request, set())
        return _json(state._delete_environment(request.path_params["environment_id"]))

    async def create_vault(request: Request) -> Response:
        _Query(request, set())
        return _json(state._create_vault(_parse(_VaultCreate, await request.body())))

    async def get_vault(request: Request) -> Response:
        _Query(request, set())
        return _json(state._get_vault(request.path_params["vault_id"]))

    async def update_vault(request: Request) -> Response:
        _Query(request, set())
        body = _parse(_VaultUpdate, await request.body())
        return _json(state._update_vault(request.path_params["vault_id"], body))

    async def list_vaults(request: Request) -> Response:
        query = _Query(request, _LIST)
        return _json(
            state._list_vaults(
                query.listing("vaults", order="desc"),
                include_archived=query.boolean("include_archived"),
            )
        )

    async def archive_vault(request: Request) -> Response:
        _Query(request, set())
        await _empty_body(request)
        return _json(state._archive_vault(request.path_params["vault_id"]))

    async def delete_vault(request: Request) -> Response:
        _Query(request, set())
        return _json(state._delete_vault(request.path_params["vault_id"]))

    async def create_credential(request: Request) -> Response:
        _Query(request, set())
        body = _parse(_CredentialCreate, await request.body())
        return _json(state._create_credential(request.path_params["vault_id"], body))

    async def get_credential(request: Request) -> Response:
        _Query(request, set())
        params = request.path_params
        return _json(state._get_credential(params["vault_id"], params["credential_id"]))

    async def update_credential(request: Request) -> Response:
        _Query(request, set())
        params = request.path_params
        raw = await request.body()
        current = state._get_credential(params["vault_id"], params["credential_id"])
        try:
            decoded = json.loads(raw) if raw.strip() else None
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            _check_auth_update(current, decoded)
        body = _parse(_CredentialUpdate, raw)
        return _json(state._update_credential(params["vault_id"], params["credential_id"], body))

    async def list_credentials(request: Request) -> Response:
        query = _Query(request, _LIST)
        vault_id = request.path_params["vault_id"]
        return _json(
            state._list_credentials(
                vault_id,
                query.listing(f"credentials:{vault_id}", order="desc"),
                include_archived=query.boolean("include_archived"),
            )
        )

    async def archive_credential(request: Request) -> Response:
        _Query(request, set())
        await _empty_body(request)
        params = request.path_params
        return _json(state._archive_credential(params["vault_id"], params["credential_id"]))

    async def delete_credential(request: Request) -> Response:
        _Query(request, set())
        params = request.path_params
        return _json(state._delete_credential(params["vault_id"], params["credential_id"]))

    async def create_session(request: Request) -> Response:
        _Query(request, set())
        session, echoed = state._create_session(_parse(_SessionCreate, await request.body()))
        if echoed:
            await run_in_threadpool(state._run_platform, session["id"], echoed)
        return _json(session)

    async def get_session(request: Request) -> Response:
        _Query(request, set())
        return _json(state._get_session(request.path_params["session_id"]))

    async def update_session(request: Request) -> Response:
        _Query(request, set())
        body = _parse(_SessionUpdate, await request.body())
        return _json(state._update_session(request.path_params["session_id"], body))

    async def list_sessions(request: Request) -> Response:
        bounds = {f"created_at[{op}]" for op in ("gt", "gte", "lt", "lte")}
        filters = {"agent_id", "agent_version", "statuses[]", "order", "deployment_id"}
        query = _Query(request, _LIST | bounds | filters | {"memory_store_id"})
        order = query.order("desc")
        statuses = query.params.getlist("statuses[]")
        for status in statuses:
            if status not in ("idle", "running", "rescheduling", "terminated"):
                raise _bad(f"statuses[] value {status!r} is not a session status")
        agent_id = query.text("agent_id")
        agent_version = query.integer("agent_version", low=1)
        if agent_version is not None and agent_id is None:
            raise _bad("agent_version only applies together with agent_id")
        return _json(
            state._list_sessions(
                query.listing("sessions", order=order, bidirectional=True),
                include_archived=query.boolean("include_archived"),
                agent_id=agent_id,
                agent_version=agent_version,
                statuses=statuses,
                created=query.times("gt", "gte", "lt", "lte"),
                deployment_id=query.text("deployment_id"),
                memory_store_id=query.text("memory_store_id"),
            )
        )

    async def archive_session(request: Request) -> Response:
        _Query(request, set())
        await _empty_body(request)
        return _json(state._archive_session(request.path_params["session_id"]))

    async def delete_session(request: Request) -> Response:
        _Query(request, set())
        return _json(state._delete_session(request.path_params["session_id"]))

    async def send_events(request: Request) -> Response:
        _Query(request, set())
        session_id = request.path_params["session_id"]
        echoed = state._send_events(session_id, _parse(_SendEvents, await request.body()))
        try:
            await run_in_threadpool(state._run_platform, session_id, echoed)
        except Exception as exc:
            raise _ApiError(500, f"the fake platform's script failed: {exc!r}") from exc
        return _json({"data": echoed})

    async def list_events(request: Request) -> Response:
        bounds = {f"created_at[{op}]" for op in ("gt", "gte", "lt", "lte")}
        query = _Query(request, {"limit", "page", "order", "types[]"} | bounds)
        session_id = request.path_params["session_id"]
        order = query.order("asc")
        return _json(
            state._list_events(
                session_id,
                query.listing(f"events:{session_id}", order=order),
                types=query.params.getlist("types[]"),
                processed=query.times("gt", "gte", "lt", "lte"),
            )
        )

    async def stream_events(request: Request) -> Response:
        query = _Query(request, {"event_deltas[]"})
        for delta in query.params.getlist("event_deltas[]"):
            if delta not in ("agent.message", "agent.thinking"):
                raise _bad(f"event_deltas[] value {delta!r} is not agent.message or agent.thinking")
        subscriber = state._subscribe(request.path_params["session_id"], asyncio.get_running_loop())

        async def frames() -> Any:
            try:
                while True:
                    item = await subscriber.queue.get()
                    if item == _CLOSE:
                        return
                    if item == _ABORT:
                        raise ConnectionAbortedError("event stream dropped by the test")
                    assert isinstance(item, dict)
                    data = json.dumps(item, separators=(",", ":"))
                    yield f"event: {item['type']}\ndata: {data}\n\n".encode()
            finally:
                state._unsubscribe(subscriber)

        return StreamingResponse(
            frames(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    agent = "/v1/agents/{agent_id}"
    env = "/v1/environments/{environment_id}"
    vault = "/v1/vaults/{vault_id}"
    cred = vault + "/credentials/{credential_id}"
    session = "/v1/sessions/{session_id}"
    return [
        ("POST", "/v1/agents", create_agent),
        ("GET", "/v1/agents", list_agents),
        ("GET", agent, get_agent),
        ("POST", agent, update_agent),
        ("POST", agent + "/archive", archive_agent),
        ("GET", agent + "/versions", list_versions),
        ("POST", "/v1/environments", create_environment),
        ("GET", "/v1/environments", list_environments),
        ("GET", env, get_environment),
        ("POST", env, update_environment),
        ("DELETE", env, delete_environment),
        ("POST", env + "/archive", archive_environment),
        ("POST", "/v1/vaults", create_vault),
        ("GET", "/v1/vaults", list_vaults),
        ("GET", vault, get_vault),
        ("POST", vault, update_vault),
        ("DELETE", vault, delete_vault),
        ("POST", vault + "/archive", archive_vault),
        ("POST", vault + "/credentials", create_credential),
        ("GET", vault + "/credentials", list_credentials),
        ("GET", cred, get_credential),
        ("POST", cred, update_credential),
        ("DELETE", cred, delete_credential),
        ("POST", cred + "/archive", archive_credential),
        ("POST", "/v1/sessions", create_session),
        ("GET", "/v1/sessions", list_sessions),
        ("GET", session, get_session),
        ("POST", session, update_session),
        ("DELETE", session, delete_session),
        ("POST", session + "/archive", archive_session),
        ("POST", session + "/events", send_events),
        ("GET", session + "/events", list_events),
        ("GET", session + "/events/stream", stream_events),
    ]
