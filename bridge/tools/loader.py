"""From a validated config to a registry: each kind builds its ``[[tools.*]]`` entries.

``build_registry`` is what ``serve`` and ``tools`` use; ``started_tools`` reads the tools of a
registry outside ``serve`` (``tools``, ``check``, ``attach``); ``check_config`` is ``mcp-bridge
check``: everything pydantic cannot see (modules that do not import, duplicate names after
curation, ``vault:`` references to secrets the store does not have, programs not on PATH, unused
params). What each of those means for an entry is its kind's business
(:class:`~bridge.tools.kinds.SourceKind`); this module only loops over the kinds in order.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import anyio

from bridge.errors import BridgeError, ConfigError, ToolLoadError
from bridge.tools.curation import curation_problems
from bridge.tools.kinds import LoadContext, Problem, ToolTables
from bridge.tools.registry import Registry, ToolSource, ToolSpec
from bridge.tools.secrets import SecretResolver


class ToolsConfig(Protocol):
    """What the loader needs of a config (``bridge.config.BridgeConfig`` is one)."""

    @property
    def tools(self) -> ToolTables: ...

    @property
    def source(self) -> Path | None: ...

    @property
    def config_dir(self) -> Path: ...


def build_registry(config: ToolsConfig, secrets: SecretResolver) -> Registry:
    """Load every configured source. Raises ``ConfigError`` naming the file and key.

    A source that has ``defer_to`` (its tools appear at run time) is handed the sources before
    it, whose names win.
    """
    try:
        registry = Registry(_sources(config, secrets))
    except ToolLoadError:
        raise
    except ConfigError as exc:
        raise ConfigError(exc.detail, path=config.source, key=exc.key) from None
    sources = registry.sources
    for index, source in enumerate(sources):
        defer_to = getattr(source, "defer_to", None)
        if defer_to is not None:
            defer_to(sources[:index])
    return registry


def started_tools(registry: Registry, *, require_healthy: bool = False) -> list[ToolSpec]:
    """Every source's tools, read with the sources started, as ``serve`` starts them.

    A proxied MCP server lists its tools (and their annotations) only once it runs, so each
    source is started, the tools collected, and every source stopped again. With
    ``require_healthy``, a source that is not healthy once started raises ``BridgeError``
    naming it, rather than leaving its tools silently out. Runs its own event loop in a worker
    thread, so it may be called from anywhere.
    """

    async def collect() -> list[ToolSpec]:
        async with contextlib.AsyncExitStack() as stack:
            for source in registry.sources:
                await source.start()
                stack.push_async_callback(source.stop)
            down = [source for source in registry.sources if not source.healthy()]
            if require_healthy and down:
                raise BridgeError("; ".join(_down(source) for source in down))
            return registry.tools()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, collect).result()


def _down(source: ToolSource) -> str:
    reason = getattr(source, "error", None)
    return (
        f"tool source {source.name!r} is down after starting"
        + (f" ({reason})" if reason else "")
        + "; its tools and their annotations cannot be read: fix it (`mcp-bridge check` "
        "tells more) and retry"
    )


def check_config(config: ToolsConfig, secrets: SecretResolver, *, probe: bool = False) -> list[str]:
    """Problems that would stop or hobble ``serve``, one line each; empty when all is well.

    With ``probe``, the sources whose tools are known only once they run (``[[tools.mcp]]``)
    are started once to list them, so that their name collisions and curation mistakes are
    found too (and a server that cannot start).
    """
    context = LoadContext(config_dir=config.config_dir, secrets=secrets)
    problems: list[str] = []
    names: dict[str, list[str]] = {}

    def problem(key: str, message: str) -> None:
        problems.append(str(ConfigError(message, path=config.source, key=key)))

    for kind, entries in config.tools.tables():
        for index, entry in enumerate(entries):
            key = f"tools.{kind.name}[{index}]"
            checked = kind.check(entry, context)
            found: list[Problem] = list(checked.problems)
            for use in checked.secrets:
                if (message := _secret_problem(use.secret, use.user, secrets)) is not None:
                    found.append((use.key, message))
            for sub, text in found:
                problem(_join(key, sub), text)
            tools = checked.tools
            if tools is None and probe and kind.probe is not None and not found:
                try:
                    original = kind.probe(entry, context)
                except ToolLoadError as exc:
                    problem(key, exc.detail)
                    continue
                for sub, text in curation_problems(original, entry):
                    problem(_join(key, sub), text)
                tools = [entry.final_name(name) for name in original if entry.admits(name)]
            for name in tools or ():
                names.setdefault(name, []).append(key)
    for name, keys in names.items():
        if len(keys) > 1:
            problem(
                "tools",
                f"tool name {name!r} is defined by {' and '.join(keys)}; rename one "
                "(or use prefix/rename)",
            )
    return problems


def _sources(config: ToolsConfig, secrets: SecretResolver) -> Iterator[ToolSource]:
    context = LoadContext(config_dir=config.config_dir, secrets=secrets)
    taken: set[str] = set()
    for kind, entries in config.tools.tables():
        for index, entry in enumerate(entries):
            key = f"tools.{kind.name}[{index}]"
            try:
                source = kind.build(entry, context)
            except ToolLoadError as exc:
                where = _join(key, exc.key or "")
                raise ToolLoadError(exc.detail, path=config.source, key=where) from exc
            if source.name in taken:  # the same module (or name) twice, curated apart
                source.name = f"{source.name}@{index}"
            taken.add(source.name)
            yield source


def _join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if sub else key


def _secret_problem(secret: str, user: str, secrets: SecretResolver) -> str | None:
    try:
        found = secrets.exists(secret)
    except Exception as exc:
        return f"{user}: cannot look up secret {secret!r} in the vault ({type(exc).__name__})"
    if found:
        return None
    return (
        f"{user} needs secret {secret!r}, which is not in the vault; "
        f"add it with `mcp-vault add {secret} --kind secret`"
    )
