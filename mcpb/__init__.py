"""What the bridge and the vault manager both need, below both: neither is imported here.

``errors`` (the one root both packages' errors derive from), ``durations`` ("15m" <-> seconds),
``urls`` (MCP server URL normalisation), ``api`` (describing an Anthropic API failure) and
``cli`` (running a click group as a command).
"""

from __future__ import annotations

from mcpb.durations import MAX_DURATION, DurationError, format_duration, parse_duration, to_seconds
from mcpb.errors import ApiFailure, ProjectError
from mcpb.urls import normalize_url, origin, same_server

__all__ = [
    "MAX_DURATION",
    "ApiFailure",
    "DurationError",
    "ProjectError",
    "format_duration",
    "normalize_url",
    "origin",
    "parse_duration",
    "same_server",
    "to_seconds",
]
