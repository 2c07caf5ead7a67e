"""Durations as people write them: "15m", "24h", "30d", "0s", "1h30m" <-> seconds."""

from __future__ import annotations

import re

from vaults.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")


def parse_duration(text: str) -> float:
    """Seconds in ``text`` ("15m", "24h", "30d", "0s", "1h30m"); a bare number means seconds."""
    cleaned = text.strip().lower()
    try:
        value = float(cleaned)
    except ValueError:
        pass
    else:
        if value < 0 or value != value or value == float("inf"):
            raise UsageError(f"bad duration {text!r}: use e.g. 0s, 15m, 24h, 30d")
        return value
    if not _WHOLE.fullmatch(cleaned):
        raise UsageError(f"bad duration {text!r}: use e.g. 0s, 15m, 24h, 30d, 1h30m")
    return float(sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned)))


def format_duration(seconds: float) -> str:
    """The shortest exact form of ``seconds`` ("30d", "1h30m", "0s"); fractions stay in seconds."""
    if seconds < 0:
        raise ValueError("duration must not be negative")
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
