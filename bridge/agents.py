"""The agent/session helper: declare the bridge on a managed agent, start sessions, run them.

Agents are created once and referenced by id: ``ensure_agent`` finds the agent it made before
(a metadata marker plus the name), creates it when missing, updates it only when the desired
configuration differs, and otherwise returns it untouched. ``start_session`` refuses to start a
session whose MCP servers have no matching credential in the given vaults, because the platform
would otherwise call the bridge without a token and fail later with an auth error event.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anthropic

from bridge.errors import AgentError, MissingCredentialError
from vaults.urls import same_server

if TYPE_CHECKING:
    from anthropic import Anthropic
    from anthropic.types.beta import BetaManagedAgentsAgent, BetaManagedAgentsSession
    from mcp.types import Tool

    from bridge.config import BridgeConfig
    from bridge.tools.registry import ToolSpec

Policy = Literal["always_allow", "always_ask", "auto"]

MARKER_KEY = "managed-by"
MARKER_VALUE = "mcp-bridge"
SERVER_KEY = "mcp-bridge-server"


def _api_error(action: str, exc: Exception) -> AgentError:
    if isinstance(exc, anthropic.APIStatusError):
        message = exc.message if hasattr(exc, "message") else str(exc)
        hint = {
            401: "check ANTHROPIC_API_KEY",
            403: "check the API key's workspace permissions",
            404: "check the id",
            429: "rate limited; try again later",
        }.get(exc.status_code, "see the request id in the Anthropic console")
        return AgentError(
            f"{action} failed: HTTP {exc.status_code}: {message} ({hint})",
            status_code=exc.status_code,
            request_id=exc.request_id,
        )
    if isinstance(exc, anthropic.APIConnectionError):
        return AgentError(
            f"{action} failed: cannot reach the Anthropic API ({exc.__class__.__name__})"
        )
    return AgentError(f"{action} failed: {exc}")


def _annotations_of(tool: ToolSpec | Tool) -> tuple[str, bool]:
    annotations = tool.annotations
    destructive = bool(annotations is not None and annotations.destructive_hint)
    return tool.name, destructive


def desired_toolset(
    server_name: str,
    tools: Iterable[ToolSpec | Tool] = (),
    *,
    permission_policy: Policy = "always_allow",
    overrides: Mapping[str, Policy] | None = None,
) -> dict[str, Any]:
    """The ``mcp_toolset`` for the bridge: an explicit default policy, destructive tools ask.

    ``overrides`` (tool name -> policy) win over what the annotations suggest.
    """
    per_tool: dict[str, Policy] = {}
    for tool in tools:
        name, destructive = _annotations_of(tool)
        if destructive and permission_policy != "always_ask":
            per_tool[name] = "always_ask"
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
        current_tools = [t.model_dump(mode="json", exclude_none=True) for t in agent.tools]
        current_servers = [s.model_dump(mode="json", exclude_none=True) for s in agent.mcp_servers]
        return (
            agent.model.id != self.model
            or (agent.system or None) != (self.system or None)
            or _canonical(current_servers) != _canonical(self.mcp_servers)
            or _canonical_tools(current_tools) != _canonical_tools(self.tools)
            or any(agent.metadata.get(k) != v for k, v in self.metadata.items())
        )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _canonical_tools(tools: list[dict[str, Any]]) -> str:
    def norm(tool: dict[str, Any]) -> dict[str, Any]:
        tool = dict(tool)
        if tool.get("type") == "mcp_toolset":
            tool["configs"] = sorted(
                (
                    {
                        "name": c["name"],
                        "enabled": c.get("enabled", True),
                        "permission_policy": c.get("permission_policy"),
                    }
                    for c in tool.get("configs", [])
                ),
                key=lambda c: c["name"],
            )
        return tool

    return _canonical([norm(t) for t in tools])


def agent_spec(
    config: BridgeConfig,
    *,
    name: str,
    model: str,
    system: str | None = None,
    tools: Iterable[ToolSpec | Tool] = (),
    permission_policy: Policy = "always_allow",
    overrides: Mapping[str, Policy] | None = None,
    custom_tools: Iterable[Mapping[str, Any]] = (),
) -> AgentSpec:
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
            *(dict(t) for t in custom_tools),
        ],
        metadata={MARKER_KEY: MARKER_VALUE, SERVER_KEY: server.name},
    )


def find_agent(client: Anthropic, name: str) -> BetaManagedAgentsAgent | None:
    """The non-archived agent this tool made under ``name``, if any."""
    try:
        for agent in client.beta.agents.list(limit=100):
            if agent.name == name and agent.metadata.get(MARKER_KEY) == MARKER_VALUE:
                return agent
    except anthropic.APIError as exc:
        raise _api_error("listing agents", exc) from exc
    return None


def ensure_agent(
    client: Anthropic,
    config: BridgeConfig,
    *,
    name: str,
    model: str,
    system: str | None = None,
    tools: Iterable[ToolSpec | Tool] = (),
    permission_policy: Policy = "always_allow",
    overrides: Mapping[str, Policy] | None = None,
    custom_tools: Iterable[Mapping[str, Any]] = (),
) -> BetaManagedAgentsAgent:
    """Create the agent that uses the bridge, or update it only if its configuration differs.

    ``tools`` are the bridge's tools (specs or MCP tools) whose annotations set per-tool
    permission policies: destructive tools ask, unless ``overrides`` says otherwise.
    """
    spec = agent_spec(
        config,
        name=name,
        model=model,
        system=system,
        tools=list(tools),
        permission_policy=permission_policy,
        overrides=overrides,
        custom_tools=custom_tools,
    )
    agent = find_agent(client, name)
    if agent is None:
        try:
            return client.beta.agents.create(
                name=spec.name,
                model=spec.model,
                system=spec.system,
                mcp_servers=spec.mcp_servers,  # type: ignore[arg-type]
                tools=spec.tools,  # type: ignore[arg-type]
                metadata=spec.metadata,
            )
        except anthropic.APIError as exc:
            raise _api_error(f"creating agent {name!r}", exc) from exc
    for attempt in (1, 2):
        if not spec.differs_from(agent):
            return agent
        try:
            return client.beta.agents.update(
                agent.id,
                version=agent.version,
                model=spec.model,
                system=spec.system,
                mcp_servers=spec.mcp_servers,  # type: ignore[arg-type]
                tools=spec.tools,  # type: ignore[arg-type]
                metadata=dict(spec.metadata),
            )
        except anthropic.ConflictError as exc:
            if attempt == 2:
                raise _api_error(f"updating agent {name!r}", exc) from exc
            try:
                agent = client.beta.agents.retrieve(agent.id)
            except anthropic.APIError as retrieve_exc:
                raise _api_error(f"re-reading agent {name!r}", retrieve_exc) from retrieve_exc
        except anthropic.APIError as exc:
            raise _api_error(f"updating agent {name!r}", exc) from exc
    return agent


def check_credentials(
    client: Anthropic, agent: BetaManagedAgentsAgent, vault_ids: Iterable[str]
) -> None:
    """Raise ``MissingCredentialError`` unless every MCP server URL has an active credential."""
    vault_ids = list(vault_ids)
    urls: list[str] = []
    for vault_id in vault_ids:
        try:
            for credential in client.beta.vaults.credentials.list(vault_id, limit=100):
                url = getattr(credential.auth, "mcp_server_url", None)
                if credential.archived_at is None and url:
                    urls.append(url)
        except anthropic.APIError as exc:
            raise _api_error(f"listing credentials of vault {vault_id}", exc) from exc
    for server in agent.mcp_servers:
        if not any(same_server(server.url, url) for url in urls):
            searched = ", ".join(vault_ids) or "(none)"
            raise MissingCredentialError(
                f"MCP server {server.name!r} ({server.url}) has no active credential in the "
                f"vaults {searched}; link one with: mcp-vault remote link TOKEN --vault VAULT "
                f"--url {server.url}",
                server=server.name,
                url=server.url,
                vault_ids=vault_ids,
            )


def start_session(
    client: Anthropic,
    agent: BetaManagedAgentsAgent,
    *,
    environment_id: str,
    vault_ids: Iterable[str],
    title: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> BetaManagedAgentsSession:
    """Start a session on this agent version, after checking its MCP credentials exist."""
    vault_ids = list(vault_ids)
    check_credentials(client, agent, vault_ids)
    try:
        return client.beta.sessions.create(
            agent={"type": "agent", "id": agent.id, "version": agent.version},
            environment_id=environment_id,
            vault_ids=vault_ids,
            title=title,
            metadata=dict(metadata or {}),
        )
    except anthropic.APIError as exc:
        raise _api_error("creating the session", exc) from exc


Confirm = Callable[[Any], bool]


@dataclass
class SessionRun:
    """What ``run_session`` saw: the stop reason, the agent's text and every event id handled."""

    stop_reason: str
    text: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    reconnects: int = 0


def _tool_table(
    tools: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]],
) -> dict[str, Callable[..., Any]]:
    if isinstance(tools, Mapping):
        return dict(tools)
    table: dict[str, Callable[..., Any]] = {}
    for fn in tools:
        meta = getattr(fn, "__bridge_tool__", None)
        name = getattr(meta, "name", None) or fn.__name__
        table[name] = fn
    return table


def _run_local_tool(fn: Callable[..., Any], arguments: Mapping[str, Any]) -> tuple[str, bool]:
    try:
        result = fn(**arguments)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}", True
    if hasattr(result, "model_dump_json"):
        return str(result.model_dump_json()), False
    if isinstance(result, str):
        return result, False
    return json.dumps(result, default=str), False


async def _await(awaitable: Any) -> Any:
    return await awaitable


def run_session(
    client: Anthropic,
    session: BetaManagedAgentsSession | str,
    message: str,
    *,
    on_text: Callable[[str], None] = print,
    tools: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]] = (),
    confirm: Confirm | bool = False,
    deadline: float = 600.0,
    max_reconnects: int = 5,
) -> SessionRun:
    """Send ``message`` and drive the session until it is idle at end of turn, or terminated.

    The stream is opened before the message is sent, so no event is missed. Custom tool uses
    are answered by calling ``tools`` (plain or ``@tool`` functions); tool confirmation requests
    are answered by ``confirm`` (a bool, or a callable taking the tool-use event). A dropped
    stream is reopened and reconciled with the event list, de-duplicated by event id. Raises
    ``AgentError`` when ``deadline`` seconds pass first.
    """
    session_id = session if isinstance(session, str) else session.id
    table = _tool_table(tools)
    run = SessionRun(stop_reason="")
    seen: set[str] = set()
    pending: dict[str, Any] = {}
    ends = time.monotonic() + deadline
    sessions = client.beta.sessions

    def remaining() -> float:
        left = ends - time.monotonic()
        if left <= 0:
            raise AgentError(f"session {session_id} did not finish within {deadline:g} s")
        return left

    def send(events: list[dict[str, Any]]) -> None:
        try:
            sessions.events.send(session_id, events=events, timeout=remaining())  # type: ignore[arg-type]
        except anthropic.APIError as exc:
            raise _api_error("sending session events", exc) from exc

    def allowed(event: Any) -> bool:
        return confirm(event) if callable(confirm) else bool(confirm)

    def handle(event: Any) -> bool:
        """Handle one event; True when the run is over."""
        event_id = getattr(event, "id", None)
        if event_id is not None:
            if event_id in seen:
                return False
            seen.add(event_id)
            run.event_ids.append(event_id)
        kind = event.type
        if kind == "agent.message":
            for block in event.content:
                if getattr(block, "type", None) == "text":
                    run.text.append(block.text)
                    on_text(block.text)
        elif kind == "agent.custom_tool_use":
            fn = table.get(event.name)
            if fn is None:
                text, is_error = f"no local tool named {event.name!r}", True
            else:
                text, is_error = _run_local_tool(fn, event.input)
            send(
                [
                    {
                        "type": "user.custom_tool_result",
                        "custom_tool_use_id": event.id,
                        "content": [{"type": "text", "text": text}],
                        "is_error": is_error,
                    }
                ]
            )
        elif kind in ("agent.mcp_tool_use", "agent.tool_use"):
            pending[event.id] = event
        elif kind == "session.status_idle":
            reason = event.stop_reason.type
            if reason == "requires_action":
                answers = []
                for waiting in event.stop_reason.event_ids:
                    tool_use = pending.pop(waiting, None)
                    if tool_use is None:
                        continue  # a custom tool use, answered when it arrived
                    ok = allowed(tool_use)
                    answer: dict[str, Any] = {
                        "type": "user.tool_confirmation",
                        "tool_use_id": waiting,
                        "result": "allow" if ok else "deny",
                    }
                    if not ok:
                        answer["deny_message"] = "denied by the client's confirmation policy"
                    answers.append(answer)
                if answers:
                    send(answers)
                return False
            run.stop_reason = reason
            return True
        elif kind == "session.status_terminated":
            run.stop_reason = "terminated"
            return True
        return False

    def events_after_drop() -> Iterator[Any]:
        try:
            yield from sessions.events.list(session_id, order="asc", limit=100)
        except anthropic.APIError as exc:
            raise _api_error("listing session events", exc) from exc

    first = True
    while True:
        try:
            with sessions.events.stream(session_id, timeout=remaining()) as stream:
                if first:
                    first = False
                    send([{"type": "user.message", "content": [{"type": "text", "text": message}]}])
                else:
                    for event in events_after_drop():
                        if handle(event):
                            return run
                for event in stream:
                    if handle(event):
                        return run
        except (anthropic.APIConnectionError, anthropic.APITimeoutError) as exc:
            if first:
                raise _api_error("opening the session stream", exc) from exc
        except anthropic.APIStatusError as exc:
            raise _api_error("streaming session events", exc) from exc
        remaining()
        run.reconnects += 1
        if run.reconnects > max_reconnects:
            raise AgentError(
                f"session {session_id}: the event stream dropped {run.reconnects} times; giving up"
            )
