"""Helpers for the proxied MCP server tests: the stdio test server's table, a result's text."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from mcp.types import TextContent

from tests.bridge.conftest import RunningBridge

StartBridge = Callable[..., RunningBridge]


BACKENDS = Path(__file__).parents[2] / "backends"


STDIO_SERVER = BACKENDS / "stdio_server.py"


def text(result: object) -> str:
    return "".join(b.text for b in result.content if isinstance(b, TextContent))  # type: ignore[attr-defined]


def stdio_toml(record: Path, *, name: str = "files", extra: str = "") -> str:
    return f"""
[[tools.mcp]]
name = "{name}"
command = ["{sys.executable}", "{STDIO_SERVER}", "{record}"]
env = {{ API_TOKEN = "vault:files-token" }}
prefix = "{name}_"
restart_delay = "0.1s"
restart_delay_max = "0.2s"
{extra}
"""
