"""Existing MCP servers as tools: ``[[tools.mcp]]``, a supervised stdio child or a remote server.

The bridge connects as an MCP client (the SDK's ``Client``, handshake era) and serves the
server's tools under the source's curation. One session is shared by every caller, or with
``per_client`` each client session gets its own (a child process, or a connection to a remote
server), for servers that keep per-client state: at most ``max_processes`` of them, the least
recently used idle one closed to make room, and any idle for ``idle_timeout`` closed. A client
session is the SSE connection or the handshake-era Streamable HTTP session, always together
with the caller's credential name; a modern-era (stateless) Streamable HTTP request belongs to
no session, so those calls share one child per credential.

Each session is supervised: opened at start (a failure leaves the source unhealthy, not the
bridge down), reopened with exponential backoff whenever it ends, and while it is down calls
fail at once with an ``isError`` result saying so. The tool list is refreshed on the server's
``notifications/tools/list_changed`` (listeners registered with ``on_tools_changed`` are told);
progress reaches the caller through ``CallContext.progress``; log messages go to the bridge log
(logger ``bridge.mcp``); a cancelled call is cancelled upstream by the SDK client, with the
upstream request id.

Nothing of the caller's request is forwarded: a child gets a clean environment (the SDK's
allow-list, ``PATH``/``HOME``/``LANG`` and the ``env`` table, ``vault:`` values read when the
session opens), a remote server gets only the configured ``bearer`` and ``headers``. Those vault
values are redacted from what the server returns, as for command and Python tools.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.to_thread
import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import (
    CONNECTION_CLOSED,
    REQUEST_TIMEOUT,
    CallToolResult,
    Implementation,
    LoggingMessageNotificationParams,
    TextContent,
    Tool,
    ToolListChangedNotification,
)
from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.errors import SecretUnavailableError, ToolLoadError
from bridge.tools.child import ChildCwd, ChildEnv
from bridge.tools.curation import Curation, curate
from bridge.tools.registry import CallContext, ToolSource, ToolSpec
from bridge.tools.remote_auth import (
    AbsoluteUrl,
    Headers,
    SourceName,
    VaultBearer,
    auth_references,
    resolve_auth,
)
from bridge.tools.secrets import (
    SecretResolver,
    redact,
    redact_result,
    resolve_references,
    vault_reference,
)
from mcpb.durations import to_seconds

log = logging.getLogger("bridge.mcp")

Streams = tuple[Any, Any]
Opener = Callable[
    [], Awaitable[tuple[contextlib.AbstractAsyncContextManager[Streams], tuple[str, ...]]]
]
_MAX_PAGES = 100
_STABLE = 10.0  # a session that lasted this long resets the restart backoff
_CALL_GRACE = 1.0  # the server layer's timeout fires first; the SDK's is a backstop
_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}
_MAX_LOGGED = 2000


Seconds = Annotated[float, BeforeValidator(to_seconds), Field(gt=0)]


class McpToolsConfig(Curation):
    """``[[tools.mcp]]``: a stdio server to run (``command``) or a remote one (``url``)."""

    name: SourceName
    command: tuple[str, ...] | None = Field(default=None, min_length=1)
    cwd: ChildCwd = None
    env: ChildEnv = {}
    url: AbsoluteUrl | None = None
    transport: Literal["streamable-http", "sse"] | None = None
    bearer: VaultBearer | None = None
    headers: Headers = {}
    per_client: bool = False
    max_processes: int = Field(default=8, ge=1, le=1024)
    idle_timeout: Seconds = 600.0
    start_timeout: Seconds = 30.0
    restart_delay: Seconds = 0.5
    restart_delay_max: Seconds = 30.0
    timeout: Seconds | None = None

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value[0]:
            raise ValueError("the program (command[0]) must not be empty")
        return value

    @model_validator(mode="after")
    def _check_shape(self) -> McpToolsConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("set either command (a stdio server to run) or url (a remote server)")
        if self.command is not None and (self.bearer or self.headers or self.transport):
            raise ValueError("bearer, headers and transport apply to a url source only")
        if self.url is not None and (self.env or self.cwd):
            raise ValueError("env and cwd apply to a command source only")
        if self.bearer and any(name.lower() == "authorization" for name in self.headers):
            raise ValueError(
                "give the credential as bearer or as an Authorization header, not both"
            )
        if self.restart_delay_max < self.restart_delay:
            raise ValueError("restart_delay_max must be at least restart_delay")
        return self


class McpSource:
    """The tools of one ``[[tools.mcp]]`` server, served through supervised client sessions."""

    def __init__(self, cfg: McpToolsConfig, config_dir: Path, secrets: SecretResolver) -> None:
        self.name = f"mcp:{cfg.name}"
        self.cfg = cfg
        self._label = f"MCP server {cfg.name!r}"
        self._cwd = cfg.cwd or Path(config_dir)
        self._secrets = secrets
        self._specs: list[ToolSpec] = []
        self._main: _Upstream | None = None
        self._pool: dict[tuple[str, str | None], _Upstream] = {}
        self._group: anyio.abc.TaskGroup | None = None
        self._earlier: tuple[ToolSource, ...] = ()
        self._listeners: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        """Open the shared session; returns once it is up or its first attempt failed."""
        await self._start(retry=True)

    async def _start(self, *, retry: bool) -> None:
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        self._main = self._upstream(self._label, retry=retry, on_tools=self._tools_listed)
        group.start_soon(self._main.run)
        if self.cfg.per_client:
            group.start_soon(self._reap)
        await self._main.attempted.wait()

    async def stop(self) -> None:
        group, self._group = self._group, None
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        self._pool.clear()

    def tools(self) -> list[ToolSpec]:
        taken = {spec.name for source in self._earlier for spec in source.tools()}
        return [spec for spec in self._specs if spec.name not in taken]

    def healthy(self) -> bool:
        return self._main is not None and self._main.client is not None

    def on_tools_changed(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Call ``listener`` after each refresh of the tool list (``list_changed``)."""
        self._listeners.append(listener)

    def defer_to(self, earlier: Iterable[ToolSource]) -> None:
        """Leave out tools whose names ``earlier`` sources serve (MCP tools appear at run time)."""
        self._earlier = tuple(earlier)

    @property
    def error(self) -> str | None:
        """Why the shared session is down, or ``None`` while it is up."""
        return "not started" if self._main is None else self._main.error

    def _upstream(
        self,
        label: str,
        *,
        retry: bool = True,
        on_tools: Callable[[list[Tool]], Awaitable[None]] | None = None,
    ) -> _Upstream:
        opener = functools.partial(
            _remote if self.cfg.url is not None else _stdio, self.cfg, self._cwd, self._secrets
        )
        return _Upstream(label, opener, self.cfg, retry=retry, on_tools=on_tools)

    async def _tools_listed(self, tools: list[Tool]) -> None:
        before = {spec.name for spec in self._specs}
        self._specs = curate([self._spec(tool) for tool in tools], self.cfg)
        taken = {spec.name for source in self._earlier for spec in source.tools()}
        for spec in self._specs:
            if spec.name in taken and spec.name not in before:
                log.error(
                    "%s: tool %r is not served, another source already has that name; "
                    "use prefix or rename",
                    self._label,
                    spec.name,
                )
        for listener in list(self._listeners):
            try:
                await listener()
            except Exception:
                log.exception("%s: a tools-changed listener failed", self._label)

    def _spec(self, tool: Tool) -> ToolSpec:
        async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
            return await self._call(tool.name, arguments, context)

        return ToolSpec(
            name=tool.name,
            description=tool.description or "",
            input_schema=dict(tool.input_schema),
            call=call,
            source=self.name,
            output_schema=dict(tool.output_schema) if tool.output_schema is not None else None,
            annotations=tool.annotations,
            timeout=self.cfg.timeout,
            title=tool.title,
        )

    async def _call(
        self, tool: str, arguments: dict[str, Any], context: CallContext
    ) -> CallToolResult:
        upstream = self._main if not self.cfg.per_client else self._for_caller(context)
        if upstream is None:
            return _error(
                f"{self._label} serves at most {self.cfg.max_processes} clients at once and "
                "all are busy; try again shortly"
            )
        report = context.progress

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if report is not None:
                await report(progress, total, message)

        upstream.active += 1
        try:
            await upstream.attempted.wait()
            client = upstream.client
            if client is None:
                return _error(
                    f"{self._label} is down ({upstream.error}); the bridge is restarting it, "
                    "try again shortly"
                )
            result = await client.call_tool(
                tool,
                arguments,
                read_timeout_seconds=context.timeout + _CALL_GRACE,
                progress_callback=on_progress if report is not None else None,
            )
            return redact_result(result, upstream.hidden)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                return _error(f"{self._label} went away during the call; it is being restarted")
            if exc.code == REQUEST_TIMEOUT:
                return _error(f"{self._label} did not answer within {context.timeout:g} s")
            reason = redact(exc.message, upstream.hidden)
            return _error(f"{self._label} refused the call: {reason}")
        except ValidationError:
            return _error(f"{self._label} returned a result that does not match its schema")
        finally:
            upstream.active -= 1
            upstream.last_used = time.monotonic()

    def _for_caller(self, context: CallContext) -> _Upstream | None:
        key = (context.caller or "", context.session)
        upstream = self._pool.get(key)
        if upstream is None:
            if self._group is None:
                return None
            if len(self._pool) >= self.cfg.max_processes and not self._evict_idle():
                return None
            # A session id lets its holder post to the session: only a prefix reaches the log.
            session = f", session {context.session[:8]}" if context.session else ""
            upstream = self._upstream(f"{self._label} (client {key[0] or '-'}{session})")
            self._pool[key] = upstream
            self._group.start_soon(upstream.run)
        return upstream

    def _evict_idle(self) -> bool:
        idle = [(up.last_used, key) for key, up in self._pool.items() if up.active == 0]
        if not idle:
            return False
        _, key = min(idle, key=lambda item: item[0])
        self._pool.pop(key).cancel()
        return True

    async def _reap(self) -> None:
        interval = min(self.cfg.idle_timeout / 2, 30.0)
        while True:
            await anyio.sleep(interval)
            cutoff = time.monotonic() - self.cfg.idle_timeout
            for key, upstream in list(self._pool.items()):
                if upstream.active == 0 and upstream.last_used < cutoff:
                    self._pool.pop(key).cancel()


class _Upstream:
    """One supervised client session: opened, watched, reopened with backoff, closed on cancel."""

    def __init__(
        self,
        label: str,
        opener: Opener,
        cfg: McpToolsConfig,
        *,
        retry: bool,
        on_tools: Callable[[list[Tool]], Awaitable[None]] | None,
    ) -> None:
        self.label = label
        self.client: Client | None = None
        self.tools: list[Tool] = []
        self.hidden: tuple[str, ...] = ()
        self.error: str | None = "starting"
        self.active = 0
        self.last_used = time.monotonic()
        self.attempted = anyio.Event()
        self._opener = opener
        self._cfg = cfg
        self._retry = retry
        self._on_tools = on_tools
        self._scope = anyio.CancelScope()

    def cancel(self) -> None:
        self._scope.cancel()

    async def run(self) -> None:
        delay = self._cfg.restart_delay
        try:
            with self._scope:
                while True:
                    began = anyio.current_time()
                    try:
                        await self._session()
                        self.error = "the connection ended" if self._cfg.url else "it exited"
                    except Exception as exc:
                        # An upstream error may echo a vault value (its env, its bearer).
                        self.error = redact(_describe(exc), self.hidden)
                    self.attempted.set()
                    if not self._retry:
                        return
                    if anyio.current_time() - began >= _STABLE:
                        delay = self._cfg.restart_delay
                    log.warning(
                        "%s is down (%s); retrying in %.1f s", self.label, self.error, delay
                    )
                    await anyio.sleep(delay)
                    delay = min(delay * 2, self._cfg.restart_delay_max)
        finally:
            self.error = self.error or "stopped"
            self.attempted.set()

    async def _session(self) -> None:
        transport, hidden = await self._opener()
        self.hidden = hidden
        send, signals = anyio.create_memory_object_stream[str](math.inf)

        async def on_message(message: IncomingMessage) -> None:
            if isinstance(message, ToolListChangedNotification):
                _offer(send, "changed")

        async def on_log(params: LoggingMessageNotificationParams) -> None:
            _forward_log(self.label, params, hidden)

        client = Client(
            _watched(transport, lambda: _offer(send, "closed")),
            mode="legacy",
            read_timeout_seconds=self._cfg.start_timeout,
            message_handler=on_message,
            logging_callback=on_log,
            client_info=Implementation(name="mcp-bridge", version="1"),
            cache=None,
        )
        with send, signals:
            async with client:
                self.tools = await _list_tools(client)
                if self._on_tools is not None:
                    await self._on_tools(self.tools)
                self.client, self.error = client, None
                self.attempted.set()
                log.info("%s is up with %d tools", self.label, len(self.tools))
                try:
                    async for signal in signals:
                        if signal == "closed":
                            break
                        await self._refresh(client)
                finally:
                    self.client = None

    async def _refresh(self, client: Client) -> None:
        try:
            tools = await _list_tools(client)
        except (MCPError, ValidationError) as exc:
            reason = redact(_describe(exc), self.hidden)
            log.warning("%s: cannot refresh the tool list (%s)", self.label, reason)
            return
        self.tools = tools
        if self._on_tools is not None:
            await self._on_tools(tools)


async def _list_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


@contextlib.asynccontextmanager
async def _watched(
    transport: contextlib.AbstractAsyncContextManager[Streams], on_closed: Callable[[], None]
) -> AsyncIterator[Streams]:
    """``transport``, calling ``on_closed`` when its read side ends (the peer went away)."""
    async with transport as (read, write):
        send, receive = anyio.create_memory_object_stream[Any](0)

        async def relay() -> None:
            try:
                async with send:
                    async for item in read:
                        await send.send(item)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
            finally:
                on_closed()

        async with anyio.create_task_group() as group:
            group.start_soon(relay)
            try:
                yield receive, write
            finally:
                group.cancel_scope.cancel()


async def _stdio(
    cfg: McpToolsConfig, cwd: Path, secrets: SecretResolver
) -> tuple[contextlib.AbstractAsyncContextManager[Streams], tuple[str, ...]]:
    from bridge.tools.command import base_environment  # it imports bridge.config, which imports us

    assert cfg.command is not None
    values, hidden = await anyio.to_thread.run_sync(resolve_references, cfg.env, secrets, "env")
    params = StdioServerParameters(
        command=cfg.command[0],
        args=list(cfg.command[1:]),
        env=base_environment() | values,
        cwd=cwd,
    )
    return stdio_client(params), hidden


async def _remote(
    cfg: McpToolsConfig, cwd: Path, secrets: SecretResolver
) -> tuple[contextlib.AbstractAsyncContextManager[Streams], tuple[str, ...]]:
    assert cfg.url is not None
    headers, hidden = await anyio.to_thread.run_sync(resolve_auth, cfg.headers, cfg.bearer, secrets)
    sse = cfg.transport == "sse" or (
        cfg.transport is None and urlsplit(cfg.url).path.rstrip("/").endswith("/sse")
    )
    if sse:
        return sse_client(cfg.url, headers=headers, timeout=cfg.start_timeout), hidden
    return _streamable_http(cfg.url, headers, cfg.start_timeout), hidden


@contextlib.asynccontextmanager
async def _streamable_http(
    url: str, headers: dict[str, str], connect_timeout: float
) -> AsyncIterator[Streams]:
    timeout = httpx2.Timeout(connect_timeout, read=None)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout, follow_redirects=False) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


def _offer(send: Any, signal: str) -> None:
    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
        send.send_nowait(signal)


def _forward_log(
    label: str, params: LoggingMessageNotificationParams, hidden: tuple[str, ...]
) -> None:
    data = params.data if isinstance(params.data, str) else json.dumps(params.data, default=str)
    text = redact(data, hidden)[:_MAX_LOGGED]
    where = f"{label} ({params.logger})" if params.logger else label
    log.log(_LOG_LEVELS.get(params.level, logging.INFO), "%s: %s", where, text)


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ToolLoadError):
        return exc.detail
    if isinstance(exc, SecretUnavailableError):
        return str(exc)
    if isinstance(exc, MCPError):
        if exc.code == CONNECTION_CLOSED:
            return "it closed the connection during the handshake"
        if exc.code == REQUEST_TIMEOUT:
            return "it did not answer in time"
        return f"it answered with error {exc.code}: {exc.message}"
    if isinstance(exc, OSError):
        return f"cannot start it: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"it answered HTTP {exc.response.status_code}"
    if isinstance(exc, httpx2.HTTPError):
        return f"cannot reach it: {type(exc).__name__}"
    return type(exc).__name__


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def mcp_source(cfg: McpToolsConfig, config_dir: Path, secrets: SecretResolver) -> McpSource:
    """The source for ``cfg``; nothing runs until ``start``."""
    return McpSource(cfg, config_dir, secrets)


def secret_references(cfg: McpToolsConfig) -> list[tuple[str, str]]:
    """``(key, secret name)`` for every ``vault:`` value of ``cfg``."""
    found = [(f"env.{name}", vault_reference(value)) for name, value in cfg.env.items()]
    env = [(key, secret) for key, secret in found if secret]
    return env + auth_references(cfg.headers, cfg.bearer)


def static_problems(cfg: McpToolsConfig, config_dir: Path) -> list[tuple[str, str]]:
    """``(key, what is wrong)`` that can be seen without starting the server."""
    from bridge.tools.command import program_problem  # it imports bridge.config, which imports us

    if cfg.command is None:
        return []
    problems: list[tuple[str, str]] = []
    cwd = cfg.cwd or config_dir
    if not cwd.is_dir():
        problems.append(("cwd", f"{str(cwd)!r} is not a directory"))
    if (problem := program_problem(cfg.command[0], cwd, cfg.env)) is not None:
        problems.append(("command", problem))
    return problems


def probe_tools(cfg: McpToolsConfig, config_dir: Path, secrets: SecretResolver) -> list[str]:
    """Start the server once, list its tools (original names) and stop it.

    Runs its own event loop in a worker thread, so it may be called from anywhere.
    Raises ``ToolLoadError`` when the server cannot be started or listed.
    """

    async def probe() -> list[str]:
        source = McpSource(cfg, config_dir, secrets)
        await source._start(retry=False)
        try:
            main = source._main
            if main is None or main.client is None:
                raise ToolLoadError(f"cannot list the tools of {source._label}: {source.error}")
            return [tool.name for tool in main.tools]
        finally:
            await source.stop()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, probe).result()
