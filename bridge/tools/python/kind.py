"""The ``python`` source kind: ``[[tools.python]]`` entries as sources and their checks."""

from __future__ import annotations

import sys

from bridge.errors import ToolLoadError
from bridge.tools.curation import curate, curation_problems
from bridge.tools.kinds import Checked, LoadContext, SecretUse, SourceKind
from bridge.tools.python.config import PythonToolsConfig
from bridge.tools.python.decorator import tool_functions
from bridge.tools.python.source import python_source
from bridge.tools.registry import StaticSource


def build(entry: PythonToolsConfig, context: LoadContext) -> StaticSource:
    """The module's tools, curated. Raises ``ToolLoadError`` (key ``module``)."""
    try:
        loaded = python_source(entry.module, context.config_dir, context.secrets)
    except ToolLoadError as exc:
        raise ToolLoadError(exc.detail, key="module") from exc
    return StaticSource(name=loaded.name, specs=curate(loaded.specs, entry))


def check(entry: PythonToolsConfig, context: LoadContext) -> Checked:
    """Import the module: its import errors, curation mistakes and the secrets its tools need."""
    try:
        source = python_source(entry.module, context.config_dir, context.secrets)
    except ToolLoadError as exc:
        return Checked(tools=[], problems=[("module", exc.detail)])
    problems = curation_problems([spec.name for spec in source.specs], entry)
    curated = curate(source.specs, entry)
    if not curated:
        problems.append(("", "allow/deny leave no tool of this module"))
    uses = [
        SecretUse("", secret, f"tool {meta.name or fn.__name__!r}")
        for fn, meta in tool_functions(sys.modules[entry.module])
        for secret in meta.secrets
    ]
    return Checked(tools=[spec.name for spec in curated], problems=problems, secrets=uses)


KIND = SourceKind(name="python", config=PythonToolsConfig, build=build, check=check, order=10)
