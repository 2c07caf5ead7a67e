"""Helpers for the OpenAPI source tests: the inventory service's tables, a result's text."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import httpx
from mcp.types import TextContent

from tests.bridge.conftest import RunningBridge

StartBridge = Callable[..., RunningBridge]


SECRET = "inventory-secret-value"


def text(result: object) -> str:
    return "".join(b.text for b in result.content if isinstance(b, TextContent))  # type: ignore[attr-defined]


def inventory_toml(url: str, *, extra: str = "") -> str:
    return f"""
[[tools.openapi]]
name = "inventory"
spec = "{url}/openapi.json"
bearer = "vault:inventory-key"
exclude = ["admin"]
prefix = "inv_"
{extra}
"""


async def wait_ready(bridge: RunningBridge, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        while (await http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "/readyz never turned green again"
            await anyio.sleep(0.05)


def late_toml(port: int, *, extra: str = "") -> str:
    return f"""
[[tools.openapi]]
name = "inventory"
spec = "http://127.0.0.1:{port}/openapi.json"
base_url = "http://127.0.0.1:{port}/api"
bearer = "vault:inventory-key"
exclude = ["admin"]
prefix = "inv_"
retry_delay = "0.1s"
retry_delay_max = "0.2s"
{extra}
"""
