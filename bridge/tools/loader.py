"""From a validated config to a registry: one source per ``[[tools.*]]`` entry, curated.

``build_registry`` is what ``serve`` and ``tools`` use; ``started_tools`` reads the tools of a
registry outside ``serve`` (``tools``, ``check``, ``attach``); ``check_config`` is ``mcp-bridge
check``: everything pydantic cannot see (modules that do not import, duplicate names after
curation, ``vault:`` references to secrets the store does not have, programs not on PATH, unused
params).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio

from bridge.config import BridgeConfig, CommandToolConfig
from bridge.errors import BridgeError, ConfigError, ToolLoadError
from bridge.tools import mcp, openapi
from bridge.tools.command import command_source, program_problem
from bridge.tools.curation import curate, curation_problems
from bridge.tools.python import python_source, tool_functions
from bridge.tools.registry import Registry, StaticSource, ToolSource, ToolSpec
from bridge.tools.secrets import SecretResolver, vault_reference


def build_registry(config: BridgeConfig, secrets: SecretResolver) -> Registry:
    """Load every configured source. Raises ``ConfigError`` naming the file and key."""
    try:
        registry = Registry(_sources(config, secrets))
    except ToolLoadError:
        raise
    except ConfigError as exc:
        raise ConfigError(exc.detail, path=config.source, key=exc.key) from None
    sources = registry.sources
    for index, source in enumerate(sources):
        if isinstance(source, mcp.McpSource):  # its tools appear at run time; earlier names win
            source.defer_to(sources[:index])
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


def check_config(
    config: BridgeConfig, secrets: SecretResolver, *, probe: bool = False
) -> list[str]:
    """Problems that would stop or hobble ``serve``, one line each; empty when all is well.

    With ``probe``, each ``[[tools.mcp]]`` server is started once to list its tools, so that
    its name collisions and curation mistakes are found too (and a server that cannot start).
    """
    problems: list[str] = []

    def problem(key: str, message: str) -> None:
        problems.append(str(ConfigError(message, path=config.source, key=key)))

    names: dict[str, list[str]] = {}
    for index, entry in enumerate(config.tools.python):
        key = f"tools.python[{index}]"
        try:
            source = python_source(entry.module, config.config_dir, secrets)
        except ToolLoadError as exc:
            problem(f"{key}.module", exc.detail)
            continue
        for sub, text in curation_problems([s.name for s in source.specs], entry):
            problem(f"{key}.{sub}", text)
        curated = curate(source.specs, entry)
        if not curated:
            problem(key, "allow/deny leave no tool of this module")
        for spec in curated:
            names.setdefault(spec.name, []).append(key)
        for fn, meta in tool_functions(sys.modules[entry.module]):
            for secret in meta.secrets:
                user = f"tool {meta.name or fn.__name__!r}"
                if (message := _secret_problem(secret, user, secrets)) is not None:
                    problem(key, message)
    for index, cfg in enumerate(config.tools.command):
        key = f"tools.command[{index}]"
        for sub, text in curation_problems([cfg.name], cfg):
            problem(f"{key}.{sub}", text)
        if cfg.admits(cfg.name):
            names.setdefault(cfg.final_name(cfg.name), []).append(key)
        else:
            problem(
                key,
                f"allow/deny leave out this command's only tool, {cfg.name!r}; "
                "remove the entry instead",
            )
        for sub, text in _command_problems(cfg, config.config_dir):
            problem(f"{key}.{sub}", text)
        for variable, value in cfg.env.items():
            reference = vault_reference(value)
            if reference is None:
                continue
            if (message := _secret_problem(reference, f"env {variable}", secrets)) is not None:
                problem(f"{key}.env.{variable}", message)
    for index, api_cfg in enumerate(config.tools.openapi):
        key = f"tools.openapi[{index}]"
        for sub, secret in openapi.secret_references(api_cfg):
            if (message := _secret_problem(secret, sub, secrets)) is not None:
                problem(f"{key}.{sub}", message)
        try:
            api = openapi.openapi_source(api_cfg, secrets)
        except ToolLoadError as exc:
            problem(f"{key}.spec", exc.detail)
            continue
        for sub, text in api.problems():
            problem(f"{key}.{sub}" if sub else key, text)
        for spec in api.tools():
            names.setdefault(spec.name, []).append(key)
    for index, mcp_cfg in enumerate(config.tools.mcp):
        key = f"tools.mcp[{index}]"
        found = mcp.static_problems(mcp_cfg, config.config_dir)
        for sub, secret in mcp.secret_references(mcp_cfg):
            if (message := _secret_problem(secret, sub, secrets)) is not None:
                found.append((sub, message))
        for sub, text in found:
            problem(f"{key}.{sub}", text)
        if not probe or found:
            continue
        try:
            original = mcp.probe_tools(mcp_cfg, config.config_dir, secrets)
        except ToolLoadError as exc:
            problem(key, exc.detail)
            continue
        for sub, text in curation_problems(original, mcp_cfg):
            problem(f"{key}.{sub}", text)
        for tool_name in filter(mcp_cfg.admits, original):
            names.setdefault(mcp_cfg.final_name(tool_name), []).append(key)
    for name, keys in names.items():
        if len(keys) > 1:
            problem(
                "tools",
                f"tool name {name!r} is defined by {' and '.join(keys)}; rename one "
                "(or use prefix/rename)",
            )
    return problems


def _sources(config: BridgeConfig, secrets: SecretResolver) -> Iterator[ToolSource]:
    taken: set[str] = set()
    for index, entry in enumerate(config.tools.python):
        key = f"tools.python[{index}]"
        try:
            loaded = python_source(entry.module, config.config_dir, secrets)
        except ToolLoadError as exc:
            raise ToolLoadError(exc.detail, path=config.source, key=f"{key}.module") from exc
        name = loaded.name if loaded.name not in taken else f"{loaded.name}@{index}"
        taken.add(name)
        yield StaticSource(name=name, specs=curate(loaded.specs, entry))
    for cfg in config.tools.command:
        source = command_source(cfg, config.config_dir, secrets)
        taken.add(source.name)
        yield StaticSource(name=source.name, specs=curate(source.specs, cfg))
    for index, api_cfg in enumerate(config.tools.openapi):
        try:
            api = openapi.openapi_source(api_cfg, secrets)
        except ToolLoadError as exc:
            key = f"tools.openapi[{index}].spec"
            raise ToolLoadError(exc.detail, path=config.source, key=key) from exc
        yield api
    for mcp_cfg in config.tools.mcp:
        yield mcp.mcp_source(mcp_cfg, config.config_dir, secrets)


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


def _command_problems(cfg: CommandToolConfig, config_dir: Path) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    cwd = cfg.cwd or config_dir
    if not cwd.is_dir():
        problems.append(("cwd", f"{str(cwd)!r} is not a directory"))
    if (problem := program_problem(cfg.argv[0], cwd, cfg.env)) is not None:
        problems.append(("argv", problem))
    for name in sorted(set(cfg.params) - cfg.placeholders()):
        problems.append((f"params.{name}", f"not used in argv; add {{{name}}} to argv or drop it"))
    return problems
