"""What the vault accepts from its callers: credential names, scopes, durations and values.

Each check raises a UsageError that names what is wrong and how to write it instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcpb.durations import DurationError, to_seconds
from vaults.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Rotating less often than every ten years is not rotating; the bound also keeps every time
# computed from a period a valid date.
MAX_ROTATE_EVERY = 3650 * 86400.0


def validate_name(name: str) -> str:
    """``name`` if it is a valid credential name, else UsageError."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"bad credential name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def bounded_duration(seconds: float, what: str, maximum: float) -> float:
    """``seconds`` if it is a finite duration >= 0 and at most ``maximum``, else UsageError."""
    try:
        return to_seconds(seconds, maximum=maximum)
    except DurationError as exc:
        raise UsageError(f"{what}: {exc}") from exc


def validate_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """The scopes stripped, without repeats; UsageError for an empty one."""
    cleaned = tuple(scope.strip() for scope in scopes)
    if any(not scope for scope in cleaned):
        raise UsageError("a scope must be a non-empty tool name or glob (e.g. 'inv_*')")
    return tuple(dict.fromkeys(cleaned))


def value_from_input(name: str, text: str) -> str:
    """A secret value as typed or piped: ``text`` without its one trailing line end (``echo``,
    a file); UsageError if nothing is left."""
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise UsageError(
            f"no value for {name}: pipe it on stdin (e.g. mcp-vault add {name} --kind secret "
            "< file) or type it at the prompt"
        )
    return text
