"""Kinds of tool source: what a ``[[tools.<kind>]]`` table holds and how it becomes tools.

Each source package exports one :class:`SourceKind` (``bridge.tools.command.kind:KIND``) and
registers it under the entry-point group ``mcp_bridge.tool_sources``. The built-in kinds are
registered that way in this project's ``pyproject.toml``, exactly as a plugin registers its own
in its ``pyproject.toml``::

    [project.entry-points."mcp_bridge.tool_sources"]
    ldap = "bridge_ldap:KIND"

``bridge.config`` builds the ``[tools]`` table from :func:`source_kinds` (:func:`tables_model`)
and ``bridge.tools.loader`` asks each kind to build and check its entries; neither imports a
source. Order: the kinds whose tools are known at load time first, then the ``late`` kinds,
whose tools appear only once they run and so leave out the names earlier sources serve; within
each, by ``order`` (the built-ins: python 10, command 20, openapi 30; mcp, late, 10), then name.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, create_model

from bridge.tools.curation import Curation
from bridge.tools.registry import ToolSource
from bridge.tools.secrets import SecretResolver

GROUP = "mcp_bridge.tool_sources"
_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

log = logging.getLogger("bridge.tools")

Problem = tuple[str, str]
"""``(key below the entry, what is wrong)``; the key is ``""`` for the entry itself."""


@dataclass(frozen=True)
class LoadContext:
    """What a kind gets besides its entry: where relative paths start, and the vault."""

    config_dir: Path
    secrets: SecretResolver


@dataclass(frozen=True)
class SecretUse:
    """A vault secret an entry needs: under ``key`` (below the entry), for ``user``.

    ``user`` is who needs it, as a problem names it: ``"env API_KEY"``, ``"tool 'crm'"``.
    """

    key: str
    secret: str
    user: str


@dataclass(frozen=True)
class Checked:
    """What checking one entry found, before anything is served.

    ``tools`` are the names the entry serves after curation, ``None`` when they are known only
    once the source runs (then :attr:`SourceKind.probe` can list them).
    """

    tools: list[str] | None
    problems: list[Problem] = field(default_factory=list)
    secrets: list[SecretUse] = field(default_factory=list)


@dataclass(frozen=True)
class SourceKind:
    """One kind of tool source.

    ``config`` validates one ``[[tools.<name>]]`` entry (it takes the curation keys);
    ``build`` turns an entry into a source (raising ``ToolLoadError`` with ``key`` below the
    entry); ``check`` finds what would stop or hobble it, without starting anything; ``probe``,
    for a kind whose tools appear at run time, starts it once and returns its original tool
    names (raising ``ToolLoadError``). ``late`` kinds come after all others; ``order`` places
    a kind among those of the same lateness (lower first).
    """

    name: str
    config: type[Curation]
    build: Callable[[Any, LoadContext], ToolSource]
    check: Callable[[Any, LoadContext], Checked]
    probe: Callable[[Any, LoadContext], list[str]] | None = None
    late: bool = False
    order: int = 100


class ToolTables(BaseModel):
    """``[tools]``: one array of tables per kind. The model is built by :func:`tables_model`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kinds: ClassVar[tuple[SourceKind, ...]] = ()

    def tables(self) -> list[tuple[SourceKind, tuple[Curation, ...]]]:
        """Each kind, in order, with its entries."""
        return [(kind, tuple(getattr(self, kind.name))) for kind in self.kinds]


def tables_model(kinds: Iterable[SourceKind]) -> type[ToolTables]:
    """The ``[tools]`` model with one field per kind, each a tuple of its config model."""
    kinds = tuple(kinds)
    fields: dict[str, Any] = {
        kind.name: (tuple[kind.config, ...], ())  # type: ignore[name-defined]
        for kind in kinds
    }
    model = create_model("ToolsConfig", __base__=ToolTables, __module__=__name__, **fields)
    model.kinds = kinds
    return model


@functools.cache
def source_kinds() -> tuple[SourceKind, ...]:
    """Every registered kind, in source order: by ``late``, then ``order``, then name."""
    found: dict[str, SourceKind] = {}
    for point in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda p: p.name):
        kind = _load(point)
        if kind is not None and kind.name not in found:
            found[kind.name] = kind
    return tuple(sorted(found.values(), key=lambda kind: (kind.late, kind.order, kind.name)))


def _load(point: importlib.metadata.EntryPoint) -> SourceKind | None:
    where = f"{point.value} (from {point.dist.name if point.dist else 'an unknown package'})"
    try:
        kind = point.load()
    except Exception as exc:
        log.warning(
            "tool source kind %r cannot be loaded from %s: %s: %s; [[tools.%s]] is unknown",
            point.name,
            where,
            type(exc).__name__,
            exc,
            point.name,
        )
        return None
    problem = _kind_problem(kind, point.name)
    if problem is not None:
        log.warning("tool source kind %r from %s is left out: %s", point.name, where, problem)
        return None
    return kind


def _kind_problem(kind: Any, registered: str) -> str | None:
    if not isinstance(kind, SourceKind):
        return f"it is a {type(kind).__name__}, not a bridge.tools.kinds.SourceKind"
    if kind.name != registered:
        return f"it is named {kind.name!r}, not {registered!r} as registered"
    if not _KIND_NAME.fullmatch(kind.name) or hasattr(ToolTables, kind.name):
        return f"{kind.name!r} is not usable as a [tools] key (lower-case letters, digits, _)"
    if not (isinstance(kind.config, type) and issubclass(kind.config, Curation)):
        return "its config model does not derive from bridge.tools.curation.Curation"
    return None
