"""Helpers for the Python tool tests: calling a spec, reading its text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp.types import CallToolResult, TextContent

from bridge.tools.registry import CallContext, ToolSpec

CONTEXT = CallContext(timeout=10, max_output=64 * 1024)


EXAMPLES = Path(__file__).resolve().parents[4] / "examples"


SECRET = "sk-live-7Hq2Zx9Lm4Pw8Rt6"


Loader = Callable[..., dict[str, ToolSpec]]


def call(spec: ToolSpec, arguments: dict[str, Any] | None = None) -> CallToolResult:
    return anyio.run(spec.call, arguments or {}, CONTEXT)


def text(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


BASICS = """
    from __future__ import annotations
    from typing import Annotated
    from pydantic import BaseModel, Field
    from bridge import tool

    class Item(BaseModel):
        sku: str
        quantity: int

    @tool
    def lookup(sku: str, limit: Annotated[int, Field(ge=1, le=10)] = 3) -> Item:
        '''Look up one item.

        More detail for the agent.
        '''
        return Item(sku=sku, quantity=limit)

    @tool(name="count_items", title="Count items", description="How many items match.",
          read_only=True, timeout="2m")
    async def count(prefix: str = "") -> int:
        return len(prefix)

    @tool(destructive=True)
    def purge(days: int) -> None:
        return None

    @tool(structured_output=False)
    def plain(n: int) -> int:
        return n * 2

    @tool(destructive=False)
    def restock(sku: str, by: int) -> dict[str, int]:
        return {sku: by}

    def helper() -> None:
        "Not decorated: not a tool."
"""
