"""Python functions as tools: the ``tool`` decorator, ``Secrets``, and the module source.

``@tool`` only marks a function; nothing is registered until a config names the module. Schemas,
argument validation and result conversion are MCPServer's own (``Tool.from_function`` and
``Tool.run``), so a bridge tool behaves exactly like an ``@mcp.tool()`` one: the signature and
type hints give the input schema, the docstring the description, a typed return structured
output.

Errors follow MCPServer: ``ToolSpec.call`` raises ``ToolError`` for invalid arguments and for a
``ToolError`` the function raises (its text reaches the agent), ``UnexpectedToolError`` for any
other exception (the agent sees only ``Error executing tool NAME``); the server turns both into
``isError`` results. Sync functions run in a worker thread that is abandoned (not waited for) when
the call is cancelled or times out, so a hung function cannot hold a call open.

A function that needs vault secrets declares them, ``@tool(secrets=["crm-key"])``, and takes a
parameter annotated :class:`Secrets`; the values are read at call time, the parameter is left out
of the input schema, and the values are redacted from what the tool returns or raises.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import traceback
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from bridge.errors import ToolLoadError
from bridge.tools.secrets import SecretResolver, redact, redact_result

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools.base import Tool
    from mcp.types import CallToolResult

    from bridge.tools.registry import CallContext, StaticSource, ToolSpec

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__bridge_tool__"


@dataclass(frozen=True)
class ToolMeta:
    """What ``@tool(...)`` recorded about a function."""

    name: str | None = None
    title: str | None = None
    description: str | None = None
    read_only: bool = False
    destructive: bool | None = None
    secrets: tuple[str, ...] = ()
    timeout: float | str | None = None
    structured_output: bool | None = None


class Secrets(Mapping[str, str]):
    """The vault secrets a tool declared, by name. Never shown by ``repr`` or ``str``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"{name!r} is not among the secrets this tool declared") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Secrets({', '.join(f'{name}=***' for name in self._values)})"


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(
    *,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    destructive: bool | None = None,
    secrets: Sequence[str] = (),
    timeout: float | str | None = None,
    structured_output: bool | None = None,
) -> Callable[[F], F]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    destructive: bool | None = None,
    secrets: Sequence[str] = (),
    timeout: float | str | None = None,
    structured_output: bool | None = None,
) -> Any:
    """Mark a function as a bridge tool: ``@tool`` or ``@tool(name=..., secrets=[...], ...)``.

    ``read_only``/``destructive`` become the MCP ``readOnlyHint``/``destructiveHint``; ``timeout``
    (seconds or ``"30s"``) overrides the server default; ``secrets`` names vault secrets passed in
    through the parameter annotated :class:`Secrets`. The function is returned unchanged.
    """
    if isinstance(secrets, str):
        raise TypeError("secrets must be a list of names, e.g. secrets=['crm-key']")
    meta = ToolMeta(
        name=name,
        title=title,
        description=description,
        read_only=read_only,
        destructive=destructive,
        secrets=tuple(secrets),
        timeout=timeout,
        structured_output=structured_output,
    )

    def mark(function: F) -> F:
        if not callable(function):
            raise TypeError("@tool decorates functions")
        setattr(function, _MARK, meta)
        return function

    return mark(fn) if fn is not None else mark


def tool_meta(obj: object) -> ToolMeta | None:
    """The ``ToolMeta`` of a function marked with ``@tool``, else ``None``."""
    meta = getattr(obj, _MARK, None)
    return meta if isinstance(meta, ToolMeta) else None


def tool_functions(module: ModuleType) -> list[tuple[Callable[..., Any], ToolMeta]]:
    """The marked functions a module defines or imports, in definition order."""
    found: dict[int, tuple[Callable[..., Any], ToolMeta]] = {}
    for value in vars(module).values():
        meta = tool_meta(value)
        if meta is not None and callable(value):
            found.setdefault(id(value), (value, meta))
    return list(found.values())


def python_source(module_name: str, config_dir: Path, secrets: SecretResolver) -> StaticSource:
    """Import ``module_name`` with ``config_dir`` first on ``sys.path`` and serve its tools.

    Raises ``ToolLoadError`` (one line, naming the module and file) when the module cannot be
    imported, defines no tools, or a tool's signature or options are unusable.
    """
    # Imported here: mcp's server package pulls in starlette and uvicorn, and `import bridge`
    # (which tool modules do) must stay light.
    from bridge.tools.registry import StaticSource

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
    from mcp.server.mcpserver.exceptions import InvalidSignature
    from mcp.server.mcpserver.tools.base import Tool
    from mcp.server.mcpserver.utilities.context_injection import find_context_parameter
    from mcp.types import ToolAnnotations

    from bridge.tools.curation import tool_name_problem
    from bridge.tools.registry import ToolSpec
    from mcpb.durations import to_seconds

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
        call=_caller(base, fn, secrets_param, meta.secrets, resolver),
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


def _caller(
    base: Tool,
    fn: Callable[..., Any],
    secrets_param: str | None,
    names: tuple[str, ...],
    resolver: SecretResolver,
) -> Callable[[dict[str, Any], CallContext], typing.Awaitable[CallToolResult]]:
    import anyio
    import anyio.to_thread
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult

    is_async = inspect.iscoroutinefunction(fn)

    async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
        values: dict[str, str] = {}
        if names:
            values = await anyio.to_thread.run_sync(_read_secrets, base.name, names, resolver)
        bound: Callable[..., Any] = fn
        if secrets_param is not None:
            bound = functools.partial(fn, **{secrets_param: Secrets(values)})
        if not is_async:
            bound = _in_abandonable_thread(bound)
        runner = base.model_copy(update={"fn": bound, "is_async": True})
        try:
            result = await runner.run(arguments, None, convert_result=True)  # type: ignore[arg-type]
        except ToolError as exc:
            if not _mentions(exc, values) and not _mentions(exc.__cause__, values):
                raise
            raise _scrubbed(exc, values) from _scrubbed_cause(exc.__cause__, values)
        if not isinstance(result, CallToolResult):
            raise ToolError(f"Error executing tool {base.name}: multi-round input is not supported")
        return redact_result(result, values.values())

    return call


def _in_abandonable_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    import anyio.to_thread

    async def run(**kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(
            functools.partial(fn, **kwargs), abandon_on_cancel=True
        )

    return run


def _read_secrets(
    tool_name: str, names: tuple[str, ...], resolver: SecretResolver
) -> dict[str, str]:
    from mcp.server.mcpserver.exceptions import ToolError

    values: dict[str, str] = {}
    for name in names:
        try:
            values[name] = resolver.get(name)
        except Exception as exc:
            raise ToolError(
                f"Error executing tool {tool_name}: secret {name!r} is not available; "
                f"add it with `mcp-vault add {name} --kind secret`"
            ) from exc
    return values


def _mentions(exc: BaseException | None, values: Mapping[str, str]) -> bool:
    # The whole chain a traceback prints: an exception raised while handling one that carried
    # the value would otherwise bring it into the log.
    seen: set[int] = set()
    while exc is not None and values and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        if redact(text, values.values()) != text:
            return True
        exc = exc.__cause__ if exc.__suppress_context__ else (exc.__cause__ or exc.__context__)
    return False


class _RedactedError(Exception):
    """Stands in for an exception whose text may have carried a secret value."""


def _scrubbed(exc: BaseException, values: Mapping[str, str]) -> BaseException:
    return type(exc)(redact(str(exc), values.values())).with_traceback(exc.__traceback__)


def _scrubbed_cause(cause: BaseException | None, values: Mapping[str, str]) -> BaseException | None:
    if cause is None:
        return None
    text = redact(f"{type(cause).__name__}: {cause}", values.values())
    return _RedactedError(text).with_traceback(cause.__traceback__)
