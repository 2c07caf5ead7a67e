"""Durations as people write them: "15m", "24h", "30d", "0s", "1h30m" <-> seconds.

Written here rather than taken from a library: the grammar ("1h30m", a bare number of seconds,
units s/m/h/d/w) is the project's contract, and the libraries that parse durations either read
another grammar (ISO 8601 ``PT15M`` in ``isodate`` and pydantic, words in ``humanfriendly``) or are
unmaintained (``pytimeparse``). Every duration is bounded (``maximum``, default
:data:`MAX_DURATION`) so that a time computed from it always stays a valid date.
"""

from __future__ import annotations

import math
import re

from mcpb.errors import ProjectError

MAX_DURATION = 36500 * 86400.0  # 100 years: now + any duration is still a valid datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_EXAMPLES = "e.g. 0s, 15m, 24h, 30d, 1h30m"


class DurationError(ProjectError, ValueError):
    """A duration that is malformed, negative or too long (a usage error: exit code 2)."""

    exit_code = 2


def parse_duration(text: str, *, maximum: float = MAX_DURATION) -> float:
    """Seconds in ``text`` ("15m", "24h", "30d", "0s", "1h30m"); a bare number means seconds."""
    cleaned = text.strip().lower()
    try:
        value = float(cleaned)
    except ValueError:
        if not _WHOLE.fullmatch(cleaned):
            raise DurationError(f"bad duration {text!r}: use {_EXAMPLES}") from None
        value = float(sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned)))
    return _bounded(value, text, maximum)


def to_seconds(value: object, *, maximum: float = MAX_DURATION) -> float:
    """Seconds in a duration given as a number of seconds or as text (:func:`parse_duration`)."""
    if isinstance(value, bool):
        raise DurationError(f"expected a duration like '30s' or a number of seconds ({_EXAMPLES})")
    if isinstance(value, int | float):
        return _bounded(float(value), repr(value), maximum)
    if isinstance(value, str):
        return parse_duration(value, maximum=maximum)
    raise DurationError(f"expected a duration like '30s' or a number of seconds ({_EXAMPLES})")


def format_duration(seconds: float) -> str:
    """The shortest exact form of ``seconds`` ("30d", "1h30m", "0s"); fractions stay in seconds."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError("a duration must be a finite number of seconds >= 0")
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    if whole == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, whole = divmod(whole, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _bounded(value: float, shown: str, maximum: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise DurationError(f"bad duration {shown}: use a finite length >= 0, {_EXAMPLES}")
    if value > maximum:
        raise DurationError(
            f"duration {shown.strip()} is too long: at most {format_duration(maximum)}"
        )
    return value
