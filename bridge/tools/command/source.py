"""Command-line programs as tools: ``[[tools.command]]``, one tool per entry.

Never a shell. Each argv element is a template; a ``{param}`` placeholder is replaced by the
argument's text *inside that one element*, so spaces, quotes and shell metacharacters stay part
of that element. A placeholder that fills a whole element can still begin with ``-``; where the
program supports it, write ``--path={path}`` or put ``--`` before it.

Arguments are validated against the schema built from ``params`` (invalid ones raise
``ToolError``). The child gets :func:`~bridge.tools.child.base_environment` plus the ``env``
table, whose ``vault:NAME`` values are read at call time and redacted from the result; running
it is :func:`~bridge.tools.command.process.run_command`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread
from jsonschema import Draft202012Validator
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations

from bridge.errors import SecretUnavailableError
from bridge.tools.child import base_environment
from bridge.tools.command.config import CommandToolConfig, parse_template
from bridge.tools.command.process import run_command
from bridge.tools.registry import CallContext, StaticSource, ToolSpec
from bridge.tools.secrets import SecretResolver, resolve_references


def input_schema(cfg: CommandToolConfig) -> dict[str, Any]:
    """The JSON schema of a command tool's arguments, from its ``params`` table."""
    properties: dict[str, Any] = {}
    for name, param in cfg.params.items():
        prop: dict[str, Any] = {"type": param.type}
        if param.description:
            prop["description"] = param.description
        if param.default is not None:
            prop["default"] = param.default
        if param.enum is not None:
            prop["enum"] = list(param.enum)
        if param.pattern is not None:
            prop["pattern"] = param.pattern
        properties[name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name, param in cfg.params.items() if param.required],
        "additionalProperties": False,
    }


def command_source(
    cfg: CommandToolConfig, config_dir: Path, secrets: SecretResolver
) -> StaticSource:
    """One tool running ``cfg.argv``; ``cwd`` defaults to ``config_dir``."""
    schema = input_schema(cfg)
    validator = Draft202012Validator(schema)
    template = [parse_template(element) for element in cfg.argv]
    cwd = cfg.cwd or Path(config_dir)

    async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
        values = _validated(cfg, validator, arguments)
        argv = [_render(parts, values) for parts in template]
        if any("\x00" in element for element in argv):
            raise ToolError(
                f"Error executing tool {cfg.name}: arguments must not contain NUL bytes"
            )
        env, hidden = await anyio.to_thread.run_sync(_environment, cfg, secrets)
        return await run_command(
            argv,
            cwd=cwd,
            env=env,
            max_output=context.max_output,
            include_stderr=cfg.include_stderr,
            hidden=hidden,
            name=cfg.name,
        )

    spec = ToolSpec(
        name=cfg.name,
        description=cfg.description,
        input_schema=schema,
        call=call,
        source=f"command:{cfg.name}",
        annotations=ToolAnnotations(
            read_only_hint=cfg.read_only,
            destructive_hint=None if cfg.read_only else cfg.destructive is not False,
        ),
        timeout=cfg.timeout,
    )
    return StaticSource(name=f"command:{cfg.name}", specs=[spec])


def _environment(
    cfg: CommandToolConfig, secrets: SecretResolver
) -> tuple[dict[str, str], tuple[str, ...]]:
    try:
        values, hidden = resolve_references(cfg.env, secrets, "env")
    except SecretUnavailableError as exc:
        raise ToolError(f"Error executing tool {cfg.name}: {exc}") from exc
    return base_environment() | values, hidden


def _validated(
    cfg: CommandToolConfig, validator: Draft202012Validator, arguments: dict[str, Any]
) -> dict[str, Any]:
    problems = []
    for error in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path)
        problems.append(f"{where}: {error.message}" if where else error.message)
    if problems:
        raise ToolError(
            f"Error executing tool {cfg.name}: invalid arguments: {'; '.join(problems)}"
        )
    values = {
        name: param.default for name, param in cfg.params.items() if param.default is not None
    }
    values.update(arguments)
    for name, param in cfg.params.items():
        if param.type == "integer" and isinstance(values.get(name), float):
            values[name] = int(values[name])
    return values


def _render(parts: list[tuple[str, str | None]], values: Mapping[str, Any]) -> str:
    out = []
    for literal, field in parts:
        out.append(literal)
        if field is not None:
            out.append(_as_text(values[field]))
    return "".join(out)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
