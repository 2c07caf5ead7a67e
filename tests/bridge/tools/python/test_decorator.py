"""The ``tool`` decorator and what ``import bridge`` brings."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bridge
from bridge import tool
from bridge.tools.python import tool_meta


def test_the_decorator_returns_the_function_itself_and_registers_nothing() -> None:
    def lookup(sku: str) -> str:
        return sku

    marked = tool(lookup)
    configured = tool(name="find", read_only=True)(lookup)

    assert marked is lookup and configured is lookup
    assert lookup("A-1") == "A-1"
    meta = tool_meta(lookup)
    assert meta is not None and meta.name == "find" and meta.read_only is True
    assert tool_meta(len) is None


def test_the_decorator_with_empty_parentheses_marks_too() -> None:
    @tool()
    def ping() -> str:
        return "pong"

    meta = tool_meta(ping)
    assert meta is not None and meta.name is None and meta.secrets == ()


def test_secrets_must_be_a_list_not_a_string() -> None:
    with pytest.raises(TypeError, match=r"secrets=\['crm-key'\]"):
        tool(secrets="crm-key")


def test_importing_bridge_stays_light() -> None:
    code = (
        "import sys, bridge; heavy = ['uvicorn', 'anthropic', 'starlette', 'mcp'];"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_package_exports_what_it_lists() -> None:
    assert {"tool", "Secrets"} <= set(bridge.__all__)
    assert all(hasattr(bridge, name) for name in bridge.__all__)
