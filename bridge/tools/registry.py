"""One registry for every tool source: specs, sources, name collisions.

A source (Python module, command, proxied MCP server, OpenAPI service) turns its config into
``ToolSpec`` objects. The server layer (``bridge.server``) applies what is common to all of them:
scopes, timeouts, output caps, cancellation and the per-call log line. A source only runs the tool.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mcp.types import CallToolResult, ToolAnnotations

from bridge.errors import ConfigError

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(frozen=True)
class CallContext:
    """What the server layer hands a tool at call time (never the caller's token).

    ``caller`` is the credential name; ``session`` the client session the call came in on (the
    SSE ``session_id`` or the Streamable HTTP ``mcp-session-id``), ``None`` when the request
    belongs to no session (stateless Streamable HTTP, in-process calls).
    """

    timeout: float
    max_output: int
    progress: ProgressFn | None = None
    caller: str | None = None
    session: str | None = None


ToolCall = Callable[[dict[str, Any], CallContext], Awaitable[CallToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the bridge serves it.

    ``call`` validates ``arguments`` against ``input_schema`` itself (or raises
    ``mcp.server.mcpserver.exceptions.ToolError`` naming the bad fields) and returns a
    ``CallToolResult``; it must let cancellation propagate and clean up (kill children) on it.
    ``timeout`` is the tool's own limit in seconds, ``None`` for the server default.
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    call: ToolCall
    source: str
    output_schema: dict[str, Any] | None = None
    annotations: ToolAnnotations | None = None
    timeout: float | None = None
    title: str | None = None


@runtime_checkable
class ToolSource(Protocol):
    """A configured source of tools. ``start``/``stop`` run in the app lifespan.

    Optional hooks: ``on_tools_changed(listener)`` (the registry rebuilds its name table and the
    app tells clients when tools change; call the listeners after every change) and
    ``joined(registry)`` (called on ``Registry.add_source``; a source whose tools appear at run
    time uses it to leave out names other sources already serve).
    """

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def tools(self) -> list[ToolSpec]: ...

    def healthy(self) -> bool: ...


@dataclass
class StaticSource:
    """A source whose tools are known at load time and need no process (Python, command)."""

    name: str
    specs: list[ToolSpec] = field(default_factory=list)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def tools(self) -> list[ToolSpec]:
        return list(self.specs)

    def healthy(self) -> bool:
        return True


class Registry:
    """The tools of every source, by unique name.

    ``get`` runs on every call (twice on the modern Streamable HTTP leg), so the registry keeps
    a name -> spec table instead of asking each source per call. The table is rebuilt when a
    source joins and whenever a source tells its ``on_tools_changed`` listeners (the registry
    is the first of them); a source whose tools change later must tell them, as the MCP and
    OpenAPI sources do.
    """

    def __init__(self, sources: Iterable[ToolSource] = ()) -> None:
        self._sources: list[ToolSource] = []
        self._specs: list[ToolSpec] | None = None
        self._by_name: dict[str, ToolSpec] = {}
        self._collision: ConfigError | None = None
        for source in sources:
            self.add_source(source)

    @property
    def sources(self) -> list[ToolSource]:
        return list(self._sources)

    def add_source(self, source: ToolSource) -> None:
        if any(s.name == source.name for s in self._sources):
            raise ConfigError(
                f"two tool sources are named {source.name!r}; rename one", key="tools"
            )
        self._sources.append(source)
        self._specs = None
        self.tools()  # raises on a name collision
        subscribe = getattr(source, "on_tools_changed", None)
        if subscribe is not None:
            subscribe(self._tools_changed)
        joined = getattr(source, "joined", None)
        if joined is not None:  # a source whose tools may appear later, to yield to the others
            joined(self)
            self._specs = None

    async def _tools_changed(self) -> None:
        self._specs = None

    def tools(self) -> list[ToolSpec]:
        specs = self._table()
        if self._collision is not None:
            raise self._collision
        return list(specs)

    def get(self, name: str) -> ToolSpec | None:
        if self._specs is None:
            self._table()
        return self._by_name.get(name)  # on a name collision, the first source's

    def _table(self) -> list[ToolSpec]:
        if self._specs is not None:
            return self._specs
        seen: dict[str, str] = {}
        by_name: dict[str, ToolSpec] = {}
        out: list[ToolSpec] = []
        collision = None
        for source in self._sources:
            for spec in source.tools():
                if spec.name in seen:
                    collision = collision or ConfigError(
                        f"tool name {spec.name!r} is defined by both {seen[spec.name]!r} and "
                        f"{source.name!r}; rename one (or use prefix/rename)",
                        key="tools",
                    )
                    continue
                seen[spec.name] = source.name
                by_name[spec.name] = spec
                out.append(spec)
        self._by_name, self._collision, self._specs = by_name, collision, out
        return out

    def health(self) -> Mapping[str, bool]:
        return {source.name: source.healthy() for source in self._sources}


def allowed_by_scopes(name: str, scopes: Iterable[str] | None) -> bool:
    """True when a token with these tool-name globs may see and call ``name``.

    No scopes (``None`` or empty) means every tool.
    """
    patterns = list(scopes or ())
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
