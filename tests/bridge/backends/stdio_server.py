"""A stdio MCP server the proxy tests run as a child: ``python stdio_server.py RECORD_DIR``.

It writes its environment to ``RECORD_DIR/env-<pid>.json`` at start, exits at once (code 2)
while ``RECORD_DIR/block`` exists, and records what happens to its calls (started, cancelled)
in ``RECORD_DIR/calls-<pid>.jsonl``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, MCPServer

RECORD = Path(sys.argv[1])
server = MCPServer("stdio-backend")


def _record(event: str, **fields: object) -> None:
    line = json.dumps({"event": event, "pid": os.getpid(), **fields})
    with open(RECORD / f"calls-{os.getpid()}.jsonl", "a") as out:
        out.write(line + "\n")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def whoami() -> int:
    """The process id of this server."""
    return os.getpid()


@server.tool()
def secret_length() -> int:
    """Length of API_TOKEN from the environment (never the value)."""
    return len(os.environ.get("API_TOKEN", ""))


@server.tool()
def leak() -> dict[str, str]:
    """API_TOKEN as text and structured content, as a careless server might."""
    return {"token": os.environ.get("API_TOKEN", "")}


@server.tool()
def where() -> str:
    """The working directory of this server."""
    return os.getcwd()


@server.tool()
async def count(n: int, ctx: Context) -> str:
    """Report progress n times, logging each step."""
    for i in range(1, n + 1):
        await ctx.report_progress(i, n, f"step {i}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await ctx.info(f"counted {i}")
    return f"counted {n}"


@server.tool()
async def wait(ctx: Context) -> str:
    """Wait until cancelled, recording the start and the cancellation."""
    _record("started", request=ctx.request_id)
    try:
        await anyio.sleep(60)
    except anyio.get_cancelled_exc_class():
        _record("cancelled", request=ctx.request_id)
        raise
    return "waited"


@server.tool()
def crash() -> str:
    """Exit the whole server at once."""
    os._exit(3)


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called ``name`` and tell the client the list changed."""

    def grown() -> str:
        return f"I am {name}"

    server.add_tool(grown, name=name, description="A tool added at run time")
    await ctx.session.send_tool_list_changed()
    return "grown"


if __name__ == "__main__":
    if (RECORD / "block").exists():
        sys.exit(2)
    (RECORD / f"env-{os.getpid()}.json").write_text(json.dumps(dict(os.environ)))
    server.run()
