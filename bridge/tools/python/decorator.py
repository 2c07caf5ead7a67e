"""The ``tool`` decorator and ``Secrets``: what a tool module imports (``from bridge import tool``).

``@tool`` only marks a function; nothing is registered until a config names the module. This
module imports nothing heavy: ``import bridge`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar, overload

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
