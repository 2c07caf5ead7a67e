"""Python tools the transport tests serve (imported from the config file's directory)."""

from __future__ import annotations

from pathlib import Path

import anyio
from pydantic import BaseModel

from bridge import Secrets, tool


class Sum(BaseModel):
    total: int
    terms: int


@tool(read_only=True)
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@tool
async def add(a: int, b: int) -> Sum:
    """Add two integers, asynchronously."""
    await anyio.sleep(0)
    return Sum(total=a + b, terms=2)


@tool(destructive=True)
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"exploded: {reason}")


@tool
async def nap(seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return "rested"


@tool
async def hold(marker: str, seconds: float) -> str:
    """Create the file ``marker`` (so a test knows the call is in flight), then sleep."""
    Path(marker).write_text("in flight")
    await anyio.sleep(seconds)
    return "held"


@tool
def flood(kib: int) -> str:
    """Return ``kib`` KiB of text."""
    return "x" * (kib * 1024)


@tool(secrets=["crm-key"])
def crm_key_length(secrets: Secrets) -> int:
    """Length of the CRM key (the key itself never leaves the bridge)."""
    return len(secrets["crm-key"])
