"""``[[tools.command]]``: a program run without a shell, its argv templated over typed params.

Each argv element is a template (:func:`parse_template`): ``{name}`` is a placeholder for the
parameter ``name``, ``{{``/``}}`` literal braces, anything else in braces a config error.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bridge.tools.child import ChildCwd, ChildEnv
from bridge.tools.curation import Curation, tool_name_problem
from bridge.tools.durations import PositiveDuration

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_template(element: str) -> list[tuple[str, str | None]]:
    """Split one argv element into ``(literal text, placeholder name or None)`` pairs.

    ``{name}`` is a placeholder, ``{{`` and ``}}`` are literal braces; anything else in braces
    (``{}``, ``{0}``, ``{a.b}``, ``{a!r}``, ``{a:>3}``) raises ``ValueError``.
    """
    try:
        parts = list(string.Formatter().parse(element))
    except ValueError as exc:
        raise ValueError(
            f"bad braces in {element!r}: {exc} (write {{{{ or }}}} for a brace)"
        ) from exc
    out: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parts:
        if field is None:
            out.append((literal, None))
            continue
        if not _IDENTIFIER.fullmatch(field) or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise ValueError(f"placeholder {shown} in {element!r} must be a plain {{param_name}}")
        out.append((literal, field))
    return out


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


ParamValue = str | int | float | bool
_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _is_param_type(value: ParamValue, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, _PARAM_TYPES[kind])


class ParamConfig(_Model):
    """One typed parameter of a command tool."""

    type: Literal["string", "integer", "number", "boolean"] = "string"
    description: str = ""
    default: ParamValue | None = None
    enum: tuple[ParamValue, ...] | None = None
    pattern: str | None = None

    @model_validator(mode="after")
    def _check_values(self) -> ParamConfig:
        if self.pattern is not None:
            if self.type != "string":
                raise ValueError("pattern applies to string parameters only")
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                problem = f"pattern {self.pattern!r} is not a regular expression: {exc}"
                raise ValueError(problem) from exc
            if isinstance(self.default, str) and not compiled.search(self.default):
                raise ValueError(f"default {self.default!r} does not match the pattern")
        if self.default is not None and not _is_param_type(self.default, self.type):
            raise ValueError(f"default {self.default!r} is not of type {self.type}")
        for value in self.enum or ():
            if not _is_param_type(value, self.type):
                raise ValueError(f"enum value {value!r} is not of type {self.type}")
        if self.enum is not None and not self.enum:
            raise ValueError("enum must list at least one value")
        if self.enum and self.default is not None and self.default not in self.enum:
            raise ValueError(f"default {self.default!r} is not one of the enum values")
        return self

    @property
    def required(self) -> bool:
        return self.default is None


class CommandToolConfig(Curation):
    """``[[tools.command]]``: a program run without a shell, argv templated over ``params``.

    ``name`` is the tool's original name: the curation keys refer to it, and ``prefix`` and
    ``rename`` give the name it is served under.
    """

    name: str
    description: str = ""
    params: Mapping[str, ParamConfig] = {}
    argv: tuple[str, ...] = Field(min_length=1)
    cwd: ChildCwd = None
    env: ChildEnv = {}
    timeout: PositiveDuration | None = None
    include_stderr: bool = False
    read_only: bool = False
    destructive: bool | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if (problem := tool_name_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("params")
    @classmethod
    def _check_params(cls, value: Mapping[str, ParamConfig]) -> Mapping[str, ParamConfig]:
        for name in value:
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"parameter name {name!r} must be a Python-style identifier")
        return value

    @field_validator("argv")
    @classmethod
    def _check_argv(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        params = info.data.get("params")
        if not value[0]:
            raise ValueError("the program (argv[0]) must not be empty")
        if any(field is not None for _, field in parse_template(value[0])):
            raise ValueError("the program (argv[0]) must be fixed text, not a placeholder")
        for element in value:
            for _, field in parse_template(element):
                if field is not None and params is not None and field not in params:
                    known = ", ".join(sorted(params)) or "none defined"
                    raise ValueError(
                        f"placeholder {{{field}}} names no parameter (params: {known}); "
                        f"add it under params or fix the spelling"
                    )
        return value

    def placeholders(self) -> set[str]:
        """The parameter names the argv template uses."""
        return {f for element in self.argv for _, f in parse_template(element) if f is not None}
