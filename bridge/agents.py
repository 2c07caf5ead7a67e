"""The agent/session helper: declare the bridge on a managed agent, start sessions, run them.

Agents are created once and referenced by id: ``ensure_agent`` finds the agent it made before
(a metadata marker plus the name), creates it when missing, updates it only when the desired
configuration differs, and otherwise returns it untouched. ``start_session`` refuses to start a
session whose MCP servers have no matching credential in the given vaults, because the platform
would otherwise call the bridge without a token and fail later with an auth error event.
``run_session`` drives one turn: stream, custom tools, tool confirmations, reconnection.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import anthropic
import httpx2

from bridge.errors import AgentError, MissingCredentialError
from bridge.tools.python import tool_meta
from mcpb.urls import same_server

if TYPE_CHECKING:
    from anthropic import Anthropic, Stream
    from anthropic.types.beta import BetaManagedAgentsAgent, BetaManagedAgentsSession
    from anthropic.types.beta.sessions import (
        BetaManagedAgentsAgentMCPToolUseEvent,
        BetaManagedAgentsAgentToolUseEvent,
    )
    from mcp.server.mcpserver.tools.base import Tool
    from mcp.types import ToolAnnotations

    from bridge.config import BridgeConfig

    ToolUseEvent: TypeAlias = (
        BetaManagedAgentsAgentMCPToolUseEvent | BetaManagedAgentsAgentToolUseEvent
    )

Policy = Literal["always_allow", "always_ask", "auto"]
CustomTool: TypeAlias = "Mapping[str, Any] | Callable[..., Any]"
LocalTools: TypeAlias = "Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]]"
Confirm: TypeAlias = "bool | Callable[[ToolUseEvent], bool]"

MARKER_KEY = "managed-by"
MARKER_VALUE = "mcp-bridge"
SERVER_KEY = "mcp-bridge-server"

_CUSTOM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_HINTS = {
    401: "check ANTHROPIC_API_KEY",
    403: "check the API key's access to this workspace",
    404: "check the id (archived or deleted?)",
    429: "rate limited; retry later",
}
_READ_SLACK = 5.0  # the watchdog ends a stream at the deadline; the read timeout is a backstop
_MAX_BACKOFF = 8.0


class _McpTool(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def annotations(self) -> ToolAnnotations | None: ...


def _api_error(action: str, exc: Exception) -> AgentError:
    if isinstance(exc, anthropic.APIStatusError):
        detail = exc.api_message if isinstance(exc.api_message, str) else type(exc).__name__
        hint = _HINTS.get(exc.status_code, "retry later")
        request = f" (request id {exc.request_id})" if exc.request_id else ""
        return AgentError(
            f"{action} failed: Anthropic API answered {exc.status_code}: {detail}{request}; {hint}",
            status_code=exc.status_code,
            request_id=exc.request_id,
        )
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return AgentError(f"{action} failed: the Anthropic API did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        return AgentError(
            f"{action} failed: cannot reach the Anthropic API ({type(exc).__name__}); "
            "check the network or ANTHROPIC_BASE_URL"
        )
    return AgentError(f"{action} failed: {type(exc).__name__}")


# --------------------------------------------------------------------------- the agent


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
    tools: Iterable[_McpTool] = (),
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


def _local_tool(fn: Callable[..., Any], name: str | None = None) -> Tool:
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


def _custom_tool(item: CustomTool) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    local = _local_tool(item)
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
    config: BridgeConfig,
    *,
    name: str,
    model: str,
    system: str | None = None,
    tools: Iterable[_McpTool] = (),
    permission_policy: Policy = "always_allow",
    overrides: Mapping[str, Policy] | None = None,
    custom_tools: Iterable[CustomTool] = (),
) -> AgentSpec:
    """The agent ``ensure_agent`` wants: the bridge in ``mcp_servers``, its toolset, the marker.

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
            *(_custom_tool(item) for item in custom_tools),
        ],
        metadata={MARKER_KEY: MARKER_VALUE, SERVER_KEY: server.name},
    )


def find_agent(client: Anthropic, name: str) -> BetaManagedAgentsAgent | None:
    """The newest non-archived agent named ``name`` that this helper made, if any."""
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
    tools: Iterable[_McpTool] = (),
    permission_policy: Policy = "always_allow",
    overrides: Mapping[str, Policy] | None = None,
    custom_tools: Iterable[CustomTool] = (),
) -> BetaManagedAgentsAgent:
    """Create the agent that uses the bridge, or update it only if its configuration differs.

    ``tools`` are the bridge's tools, read for annotations (see :func:`desired_toolset`).
    An update sends ``tools`` and ``mcp_servers`` together with the ``version`` read; when
    someone else updated the agent in between (409), it is re-read and retried once.
    """
    spec = agent_spec(
        config,
        name=name,
        model=model,
        system=system,
        tools=tools,
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
                mcp_servers=spec.mcp_servers,  # type: ignore[arg-type]
                tools=spec.tools,  # type: ignore[arg-type]
                metadata=spec.metadata,
                system=anthropic.omit if spec.system is None else spec.system,
            )
        except anthropic.APIError as exc:
            raise _api_error(f"creating agent {name!r}", exc) from exc
    # A version conflict never heals by resending the same version: no SDK retries here.
    agents = client.with_options(max_retries=0).beta.agents
    for attempt in (1, 2):
        if not spec.differs_from(agent):
            return agent
        try:
            return agents.update(
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
                raise AgentError(
                    f"updating agent {name!r} ({agent.id}) failed: it changed again while being "
                    "updated (version conflict twice); retry when no one else is updating it",
                    status_code=exc.status_code,
                    request_id=exc.request_id,
                ) from exc
        except anthropic.APIError as exc:
            raise _api_error(f"updating agent {name!r}", exc) from exc
        try:
            agent = client.beta.agents.retrieve(agent.id)
        except anthropic.APIError as exc:
            raise _api_error(f"re-reading agent {name!r}", exc) from exc
    return agent


# --------------------------------------------------------------------------- the session


def check_credentials(
    client: Anthropic, agent: BetaManagedAgentsAgent, vault_ids: Iterable[str]
) -> None:
    """Raise ``MissingCredentialError`` unless every MCP server URL of ``agent`` has an active
    credential in one of ``vault_ids`` (URLs compared as the platform does, normalised)."""
    vault_ids = list(vault_ids)
    urls: list[str] = []
    for vault_id in vault_ids:
        try:
            for credential in client.beta.vaults.credentials.list(vault_id, limit=100):
                url = getattr(credential.auth, "mcp_server_url", None)
                if credential.archived_at is None and isinstance(url, str):
                    urls.append(url)
        except anthropic.APIError as exc:
            raise _api_error(f"listing the credentials of vault {vault_id}", exc) from exc
    for server in agent.mcp_servers:
        if not any(same_server(server.url, url) for url in urls):
            searched = ", ".join(vault_ids) if vault_ids else "(no vaults given)"
            raise MissingCredentialError(
                f"MCP server {server.name!r} ({server.url}) has no active credential in the "
                f"vaults searched: {searched}; link one with `mcp-vault remote link TOKEN "
                f"--vault VAULT --url {server.url}`",
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
    """Start a session pinned to this agent version, after :func:`check_credentials`."""
    vault_ids = list(vault_ids)
    check_credentials(client, agent, vault_ids)
    try:
        return client.beta.sessions.create(
            agent={"type": "agent", "id": agent.id, "version": agent.version},
            environment_id=environment_id,
            vault_ids=vault_ids,
            title=anthropic.omit if title is None else title,
            metadata=dict(metadata) if metadata else anthropic.omit,
        )
    except anthropic.APIError as exc:
        raise _api_error("creating the session", exc) from exc


@dataclass
class SessionRun:
    """What one ``run_session`` turn saw.

    ``stop_reason`` is the idle stop reason (``end_turn``, ``retries_exhausted``,
    ``budget_reached``, ``refusal``) or ``terminated``; ``event_ids`` lists every event handled,
    once each; ``errors`` the messages of ``session.error`` events.
    """

    session_id: str
    stop_reason: str = ""
    text: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0


def _tool_table(tools: LocalTools) -> dict[str, Tool]:
    items = tools.items() if isinstance(tools, Mapping) else ((None, fn) for fn in tools)
    table: dict[str, Tool] = {}
    for name, fn in items:
        local = _local_tool(fn, name)
        table[local.name] = local
    return table


def _call_local(local: Tool, arguments: dict[str, Any]) -> tuple[str, bool]:
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


def _socket_of(stream: Stream[Any]) -> socket.socket | None:
    network = stream.response.extensions.get("network_stream")
    sock = network.get_extra_info("socket") if network is not None else None
    return sock if isinstance(sock, socket.socket) else None


def _shutdown(sock: socket.socket) -> None:
    # The base class's shutdown: an SSLSocket's own would drop its SSL object under the reader.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Turn:
    """The state of one ``run_session`` call."""

    def __init__(
        self,
        client: Anthropic,
        session_id: str,
        *,
        on_text: Callable[[str], None] | None,
        on_event: Callable[[Any], None] | None,
        tools: LocalTools,
        confirm: Confirm,
        deadline: float,
        max_reconnects: int,
    ) -> None:
        self.events = client.beta.sessions.events
        self.session_id = session_id
        self.on_text = on_text
        self.on_event = on_event
        self.tools = _tool_table(tools)
        self.confirm = confirm
        self.deadline = deadline
        self.ends = time.monotonic() + deadline
        self.max_reconnects = max_reconnects
        self.result = SessionRun(session_id=session_id)
        self.seen: set[str] = set()
        self.tool_uses: dict[str, Any] = {}
        self.anchor: str | None = None
        self.streak = 0  # stream drops since an event was last handled

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise AgentError(
                f"session {self.session_id} did not finish its turn within {self.deadline:g} s; "
                "raise the deadline, or look at the session's events in the console"
            )
        return left

    def run(self, message: str) -> SessionRun:
        # The stream keeps no history: open it before sending, or the first events are lost.
        stream = self.open("opening the session's event stream")
        try:
            echoed = self.send(
                [{"type": "user.message", "content": [{"type": "text", "text": message}]}]
            )
            self.anchor = echoed[0].id if echoed else None
        except BaseException:
            stream.close()
            raise
        reconcile = False
        while True:
            with stream:
                try:
                    with self.watchdog(stream):
                        if reconcile and self.reconcile():
                            return self.result
                        for event in stream:
                            if self.handle(event):
                                return self.result
                except (anthropic.APIConnectionError, httpx2.TransportError):
                    pass  # dropped mid-way; a clean close just ends the loop
                except anthropic.APIStatusError as exc:
                    raise _api_error("streaming the session's events", exc) from exc
            stream = self.reconnect()
            reconcile = True

    def open(self, action: str) -> Stream[Any]:
        try:
            return self.events.stream(self.session_id, timeout=self.remaining() + _READ_SLACK)
        except anthropic.APIError as exc:
            raise _api_error(action, exc) from exc

    @contextlib.contextmanager
    def watchdog(self, stream: Stream[Any]) -> Iterator[None]:
        # A server heartbeat restarts every read timeout, so only a timer enforces the deadline
        # while the stream waits; cutting the socket ends the read with a transport error.
        sock = _socket_of(stream)
        timer = threading.Timer(self.remaining(), _shutdown, args=(sock,)) if sock else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()

    def reconnect(self) -> Stream[Any]:
        while True:
            self.remaining()
            self.streak += 1
            if self.streak > self.max_reconnects:
                raise AgentError(
                    f"session {self.session_id}: the event stream dropped {self.streak} times "
                    "in a row; check the network and run the turn again"
                )
            if self.streak > 1:
                time.sleep(min(0.25 * 2 ** (self.streak - 2), _MAX_BACKOFF, self.remaining()))
            self.result.reconnects += 1
            try:
                return self.events.stream(self.session_id, timeout=self.remaining() + _READ_SLACK)
            except anthropic.APIConnectionError:
                continue
            except anthropic.APIStatusError as exc:
                raise _api_error("reopening the session's event stream", exc) from exc

    def reconcile(self) -> bool:
        """Handle what was missed while the stream was down; True when the turn is over."""
        after_anchor = self.anchor is None
        try:
            for event in self.events.list(
                self.session_id, order="asc", limit=100, timeout=self.remaining()
            ):
                if not after_anchor:
                    after_anchor = event.id == self.anchor
                    continue
                if self.handle(event):
                    return True
        except anthropic.APIStatusError as exc:
            raise _api_error("listing the session's events", exc) from exc
        return False

    def send(self, events: list[dict[str, Any]]) -> list[Any]:
        try:
            sent = self.events.send(self.session_id, events=events, timeout=self.remaining())  # type: ignore[arg-type]
        except anthropic.APIError as exc:
            raise _api_error("sending events to the session", exc) from exc
        return list(sent.data or [])

    def handle(self, event: Any) -> bool:
        """Handle one event, once; True when the turn is over."""
        event_id = getattr(event, "id", None)
        if event_id is not None:
            if event_id in self.seen:
                return False
            self.seen.add(event_id)
            self.result.event_ids.append(event_id)
        self.streak = 0
        self.remaining()
        if self.on_event is not None:
            self.on_event(event)
        kind = event.type
        if kind == "agent.message":
            for block in event.content:
                if block.type == "text":
                    self.result.text.append(block.text)
                    if self.on_text is not None:
                        self.on_text(block.text)
        elif kind == "agent.custom_tool_use":
            self.answer_custom(event)
        elif kind in ("agent.mcp_tool_use", "agent.tool_use"):
            self.tool_uses[event.id] = event
        elif kind == "session.error":
            self.result.errors.append(str(getattr(event.error, "message", "") or event.error.type))
        elif kind == "session.status_idle":
            if event.stop_reason.type == "requires_action":
                self.answer_confirmations(event.stop_reason.event_ids)
                return False
            self.result.stop_reason = event.stop_reason.type
            return True
        elif kind in ("session.status_terminated", "session.deleted"):
            self.result.stop_reason = kind.rsplit(".", 1)[1].removeprefix("status_")
            return True
        return False

    def answer_custom(self, event: Any) -> None:
        local = self.tools.get(event.name)
        if local is None:
            known = ", ".join(sorted(self.tools)) or "none"
            text, is_error = f"no local tool named {event.name!r} (known: {known})", True
        else:
            text, is_error = _call_local(local, dict(event.input))
        answer: dict[str, Any] = {
            "type": "user.custom_tool_result",
            "custom_tool_use_id": event.id,
            "is_error": is_error,
        }
        if text:
            answer["content"] = [{"type": "text", "text": text}]
        self.send([answer])

    def answer_confirmations(self, event_ids: list[str]) -> None:
        answers: list[dict[str, Any]] = []
        for waiting in event_ids:
            tool_use = self.tool_uses.pop(waiting, None)
            if tool_use is None:
                continue  # a custom tool use: answered when it arrived
            if tool_use.evaluated_permission not in ("ask", None):
                raise AgentError(
                    f"session {self.session_id} waits for a result of built-in tool "
                    f"{tool_use.name!r} (a self-hosted environment); run_session only answers "
                    "custom tools and confirmations"
                )
            allowed = self.confirm(tool_use) if callable(self.confirm) else bool(self.confirm)
            answer: dict[str, Any] = {
                "type": "user.tool_confirmation",
                "tool_use_id": waiting,
                "result": "allow" if allowed else "deny",
            }
            if not allowed:
                answer["deny_message"] = "denied by the client's confirmation policy"
            answers.append(answer)
        if answers:
            self.send(answers)


def run_session(
    client: Anthropic,
    session: BetaManagedAgentsSession | str,
    message: str,
    *,
    on_text: Callable[[str], None] | None = None,
    tools: LocalTools = (),
    confirm: Confirm = False,
    on_event: Callable[[Any], None] | None = None,
    deadline: float = 600.0,
    max_reconnects: int = 5,
) -> SessionRun:
    """Send ``message`` and drive the session until it is idle at the end of its turn, or
    terminated.

    The event stream is opened before the message is sent, so no event is missed. Text is
    delivered to ``on_text``, every event to ``on_event``. ``agent.custom_tool_use`` is answered
    by calling ``tools`` (plain or ``@tool`` functions, or a name -> function mapping), with
    arguments validated and results converted as the bridge does. Tool confirmation requests
    are answered by ``confirm``: a bool, or a callable taking the tool-use event (default:
    deny). A dropped stream is reopened and reconciled with the event list, each event handled
    once (by id); ``max_reconnects`` drops in a row without progress give up. ``AgentError``
    when ``deadline`` seconds pass first, or on an API error (with ``status_code`` and
    ``request_id``).
    """
    session_id = session if isinstance(session, str) else session.id
    turn = _Turn(
        client,
        session_id,
        on_text=on_text,
        on_event=on_event,
        tools=tools,
        confirm=confirm,
        deadline=deadline,
        max_reconnects=max_reconnects,
    )
    return turn.run(message)
