"""Python functions as tools: ``[[tools.python]]``, the ``@tool`` functions of one module.

Schemas, argument validation and result conversion are MCPServer's own (``Tool.from_function``
and ``Tool.run``), so a bridge tool behaves exactly like an ``@mcp.tool()`` one: the signature
and type hints give the input schema, the docstring the description, a typed return structured
output. A parameter annotated :class:`~bridge.tools.python.decorator.Secrets` is left out of the
input schema; the values come in at call time (:mod:`bridge.tools.python.call`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import traceback
import typing
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from mcp.server.mcpserver.exceptions import InvalidSignature
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.context_injection import find_context_parameter
from mcp.types import ToolAnnotations

from bridge.errors import ToolLoadError
from bridge.tools.curation import tool_name_problem
from bridge.tools.python.call import caller
from bridge.tools.python.decorator import Secrets, ToolMeta, tool_functions
from bridge.tools.registry import StaticSource, ToolSpec
from bridge.tools.secrets import SecretResolver
from mcpb.durations import to_seconds


def python_source(module_name: str, config_dir: Path, secrets: SecretResolver) -> StaticSource:
    """Import ``module_name`` with ``config_dir`` first on ``sys.path`` and serve its tools.

    Raises ``ToolLoadError`` (one line, naming the module and file) when the module cannot be
    imported, defines no tools, or a tool's signature or options are unusable.
    """
    module = _import(module_name, Path(config_dir))
    where = _module_file(module)
    functions = tool_functions(module)
    if not functions:
        raise ToolLoadError(
            f"module {module_name!r} ({where}) defines no tools; decorate functions with "
            "`@tool` (from bridge import tool)"
        )
    specs: list[ToolSpec] = []
    for fn, meta in functions:
        spec = _spec(fn, meta, module_name, where, secrets)
        if any(s.name == spec.name for s in specs):
            raise ToolLoadError(
                f"module {module_name!r} ({where}) defines two tools named {spec.name!r}; "
                "rename one with @tool(name=...)"
            )
        specs.append(spec)
    return StaticSource(name=f"python:{module_name}", specs=specs)


def _import(module_name: str, config_dir: Path) -> ModuleType:
    directory = str(config_dir.absolute())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        place = _failure_place(exc, directory)
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name == module_name.split(".")[0]:
            hint = f"; looked in {directory} and the installed packages"
        raise ToolLoadError(
            f"cannot import tool module {module_name!r}{place}: {_one_line(exc)}{hint}"
        ) from exc


def _failure_place(exc: BaseException, directory: str) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}:{exc.lineno})"
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(directory)
    ]
    if frames:
        return f" ({frames[-1].filename}:{frames[-1].lineno})"
    return ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _module_file(module: ModuleType) -> str:
    return str(getattr(module, "__file__", None) or module.__name__)


def _spec(
    fn: Callable[..., Any],
    meta: ToolMeta,
    module_name: str,
    where: str,
    resolver: SecretResolver,
) -> ToolSpec:
    name: str = meta.name or str(getattr(fn, "__name__", ""))

    def fail(problem: str) -> ToolLoadError:
        return ToolLoadError(f"tool {name!r} in module {module_name!r} ({where}): {problem}")

    if (problem := tool_name_problem(name)) is not None:
        raise fail(problem)
    if find_context_parameter(fn) is not None:
        raise fail("MCP Context parameters are not available to bridge tools; remove it")
    secrets_param = _secrets_parameter(fn)
    if meta.secrets and secrets_param is None:
        raise fail("declares secrets but has no parameter annotated Secrets to receive them")
    if secrets_param is not None and not meta.secrets:
        raise fail(
            f"parameter {secrets_param!r} is annotated Secrets but @tool(secrets=[...]) is empty"
        )
    try:
        timeout = to_seconds(meta.timeout) if meta.timeout is not None else None
    except ValueError as exc:
        raise fail(f"timeout: {exc}") from exc
    if timeout == 0:
        raise fail("timeout must be more than 0 seconds")
    annotations = ToolAnnotations(
        read_only_hint=meta.read_only,
        destructive_hint=None if meta.read_only else meta.destructive is not False,
    )
    try:
        base = Tool.from_function(
            fn if secrets_param is None else _without_parameter(fn, secrets_param),
            name=name,
            title=meta.title,
            description=meta.description or inspect.getdoc(fn),
            annotations=annotations,
            structured_output=meta.structured_output,
        )
    except (InvalidSignature, TypeError, ValueError, NameError) as exc:
        raise fail(_one_line(exc)) from exc
    return ToolSpec(
        name=name,
        title=meta.title,
        description=base.description,
        input_schema=base.parameters,
        output_schema=base.output_schema,
        annotations=annotations,
        timeout=timeout,
        source=f"python:{module_name}",
        call=caller(base, fn, secrets_param, meta.secrets, resolver),
    )


def _secrets_parameter(fn: Callable[..., Any]) -> str | None:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return None  # Tool.from_function reports the unresolvable annotation
    for name, annotation in hints.items():
        if name != "return" and isinstance(annotation, type) and issubclass(annotation, Secrets):
            return name
    return None


def _without_parameter(fn: Callable[..., Any], hidden: str) -> Callable[..., Any]:
    """A stand-in with ``fn``'s signature minus ``hidden``, for schema building only."""
    signature = inspect.signature(fn, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != hidden]

    async def async_stand_in(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("never called")

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("never called")

    if inspect.iscoroutinefunction(fn):
        stand_in = async_stand_in
    functools.update_wrapper(stand_in, fn)
    stand_in.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    return stand_in
