"""Existing MCP servers as tools: ``[[tools.mcp]]``, a supervised stdio child or a remote server.

The bridge connects as an MCP client and serves the server's tools under the source's curation.
One session is shared by every caller, or with ``per_client`` each client session gets its own
(a child process, or a connection to a remote server), for servers that keep per-client state:
at most ``max_processes`` of them, the least recently used idle one closed to make room, and any
idle for ``idle_timeout`` closed. A client session is the SSE connection or the handshake-era
Streamable HTTP session, always together with the caller's credential name; a modern-era
(stateless) Streamable HTTP request belongs to no session, so those calls share one child per
credential.

Each session is an :class:`~bridge.tools.mcp.upstream.Upstream`: opened at start (a failure
leaves the source unhealthy, not the bridge down), reopened with backoff whenever it ends, and
while it is down calls fail at once with an ``isError`` result saying so. Listeners registered
with ``on_tools_changed`` are told when the tool list changes; progress reaches the caller
through ``CallContext.progress``; a cancelled call is cancelled upstream by the SDK client.
The vault values a session read are redacted from what the server returns, as for command and
Python tools.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from mcp import MCPError
from mcp.types import (
    CONNECTION_CLOSED,
    REQUEST_TIMEOUT,
    CallToolRequest,
    CallToolRequestParams,
    CallToolResult,
    TextContent,
    Tool,
)
from pydantic import ValidationError

from bridge.errors import ToolLoadError
from bridge.tools.curation import curate
from bridge.tools.mcp import transports
from bridge.tools.mcp.config import McpToolsConfig
from bridge.tools.mcp.upstream import Upstream
from bridge.tools.registry import CallContext, ToolSource, ToolSpec
from bridge.tools.secrets import SecretResolver, redact, redact_result

log = logging.getLogger("bridge.mcp")

_CALL_GRACE = 1.0  # the server layer's timeout fires first; the SDK's is a backstop


class McpSource:
    """The tools of one ``[[tools.mcp]]`` server, served through supervised client sessions."""

    def __init__(self, cfg: McpToolsConfig, config_dir: Path, secrets: SecretResolver) -> None:
        self.name = f"mcp:{cfg.name}"
        self.cfg = cfg
        self._label = f"MCP server {cfg.name!r}"
        self._cwd = cfg.cwd or Path(config_dir)
        self._secrets = secrets
        self._specs: list[ToolSpec] = []
        self._main: Upstream | None = None
        self._pool: dict[tuple[str, str | None], Upstream] = {}
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
    ) -> Upstream:
        opener = functools.partial(
            transports.remote if self.cfg.url is not None else transports.stdio,
            self.cfg,
            self._cwd,
            self._secrets,
        )
        return Upstream(label, opener, self.cfg, retry=retry, on_tools=on_tools)

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
            timeout = context.timeout + _CALL_GRACE
            if upstream.lane is not None and report is None:
                result = await upstream.lane.call_tool(tool, arguments, timeout=timeout)
            else:
                # The session's send_request, not Client.call_tool: that revalidates each
                # result against the tool's output schema (a jsonschema pass, a sixth of the
                # SDK client's time per call in a profile), which the caller's client does
                # anyway against the schema the bridge announces; its other rounds
                # (input_required, claimed extension results, a 2026 header re-list) do not
                # arise on this handshake-era session.
                result = await client.session.send_request(
                    CallToolRequest(params=CallToolRequestParams(name=tool, arguments=arguments)),
                    CallToolResult,
                    request_read_timeout_seconds=timeout,
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

    def _for_caller(self, context: CallContext) -> Upstream | None:
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


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def mcp_source(cfg: McpToolsConfig, config_dir: Path, secrets: SecretResolver) -> McpSource:
    """The source for ``cfg``; nothing runs until ``start``."""
    return McpSource(cfg, config_dir, secrets)


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
