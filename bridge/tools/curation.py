"""Curation of a source's tools: allow/deny globs, renames, descriptions, a name prefix.

Every source kind takes the same keys. Globs, ``rename`` and ``descriptions`` keys all refer to
the tool's *original* name (as the source defines it); ``prefix`` is prepended to every final
name, renamed or not.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

if TYPE_CHECKING:
    from mcp.types import CallToolResult

    from bridge.tools.registry import CallContext, ToolCall, ToolSpec

# SEP-986, the MCP spec's tool-name rule.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def is_valid_tool_name(name: str) -> bool:
    """True when ``name`` follows the MCP tool-name rule (1-128 of ``A-Za-z0-9._-``)."""
    return _TOOL_NAME.fullmatch(name) is not None


def tool_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid MCP tool name, or ``None`` when it is."""
    if is_valid_tool_name(name):
        return None
    return f"{name!r} is not a valid tool name (1-128 characters from A-Z a-z 0-9 _ . -)"


class Curation(BaseModel):
    """The curation keys shared by every ``[[tools.*]]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()
    rename: Mapping[str, str] = {}
    descriptions: Mapping[str, str] = {}
    prefix: str = ""

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if value and not is_valid_tool_name(value):
            raise ValueError(f"{value!r} may only use the characters A-Z a-z 0-9 _ . -")
        return value

    @field_validator("rename")
    @classmethod
    def _check_rename(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        for new in value.values():
            if (problem := tool_name_problem(new)) is not None:
                raise ValueError(problem)
        return value

    def admits(self, name: str) -> bool:
        """True when the original tool name passes ``allow`` and ``deny``."""
        if self.allow is not None and not _matches(name, self.allow):
            return False
        return not _matches(name, self.deny)

    def final_name(self, name: str) -> str:
        return self.prefix + self.rename.get(name, name)


def curate(specs: Iterable[ToolSpec], curation: Curation) -> list[ToolSpec]:
    """The specs ``curation`` admits, renamed, prefixed and re-described."""
    out: list[ToolSpec] = []
    for spec in specs:
        if not curation.admits(spec.name):
            continue
        name = curation.final_name(spec.name)
        out.append(
            dataclasses.replace(
                spec,
                name=name,
                description=curation.descriptions.get(spec.name, spec.description),
                call=spec.call if name == spec.name else _renamed(spec.call, spec.name, name),
            )
        )
    return out


def _renamed(call: ToolCall, old: str, new: str) -> ToolCall:
    """``call``, with its ``Error executing tool OLD`` messages naming the tool as served."""
    from mcp.server.mcpserver.exceptions import ToolError

    before = f"Error executing tool {old}"

    async def renamed(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
        try:
            return await call(arguments, context)
        except ToolError as exc:
            text = str(exc)
            if not text.startswith(before):
                raise
            message = f"Error executing tool {new}{text[len(before) :]}"
            raise type(exc)(message).with_traceback(exc.__traceback__) from exc.__cause__

    return renamed


def curation_problems(names: Iterable[str], curation: Curation) -> list[tuple[str, str]]:
    """``(key, what is wrong)`` for curation entries that refer to no tool of the source."""
    known = list(names)
    problems: list[tuple[str, str]] = []
    for pattern in curation.allow or ():
        if not _matches_any(pattern, known):
            problems.append(("allow", f"{pattern!r} matches no tool of this source"))
    for table in ("rename", "descriptions"):
        for name in getattr(curation, table):
            if name not in known:
                problems.append((f"{table}.{name}", f"no tool named {name!r} in this source"))
    for name in known:
        if curation.admits(name) and (problem := tool_name_problem(curation.final_name(name))):
            problems.append(("prefix", problem))
    return problems


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _matches_any(pattern: str, names: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)
