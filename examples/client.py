"""Call a tool through the bridge with the ``mcp`` client, over Streamable HTTP or SSE.

The token comes from the environment (``MCP_BRIDGE_TOKEN``), never from the command line:

    MCP_BRIDGE_TOKEN=mcpb_... python examples/client.py --url http://127.0.0.1:8765/mcp
    MCP_BRIDGE_TOKEN=mcpb_... python examples/client.py --url http://127.0.0.1:8765/sse \\
        --tool search_docs --args '{"query": "deploy"}'

Without ``--tool`` it lists the tools and calls the first read-only one it knows how to call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

DEFAULT_CALLS = {
    "get_item": {"sku": "AX-1001"},
    "search_docs": {"query": "on-call"},
    "echo": {"text": "hello from the example client"},
}


class Refused(Exception):
    """The bridge answered 401: no valid token."""


async def run(url: str, token: str, tool: str | None, arguments: dict[str, object]) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    if url.rstrip("/").endswith("/sse"):
        transport = sse_client(url, headers=headers)
        async with Client(transport, mode="legacy") as client:
            return await _use(client, tool, arguments)
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    http = httpx2.AsyncClient(
        headers=headers,
        timeout=httpx2.Timeout(30, read=300),
        event_hooks={"response": [record]},
    )
    try:
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            return await _use(client, tool, arguments)
    except Exception as exc:
        # The SDK reports any refused POST as "Server returned an error response".
        if 401 in statuses:
            raise Refused() from exc
        raise


async def _use(client: Client, tool: str | None, arguments: dict[str, object]) -> int:
    tools = (await client.list_tools()).tools
    print("tools:", ", ".join(t.name for t in tools))
    if tool is None:
        tool = next((name for name in DEFAULT_CALLS if any(t.name == name for t in tools)), None)
        if tool is None:
            return 0
        arguments = DEFAULT_CALLS[tool]
    result = await client.call_tool(tool, arguments)
    print(f"{tool}({json.dumps(arguments)}) ->")
    if result.structured_content is not None:
        print(json.dumps(result.structured_content, indent=2))
    else:
        for block in result.content:
            print(getattr(block, "text", block))
    return 1 if result.is_error else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8765/mcp", help="…/mcp or …/sse")
    parser.add_argument("--tool", help="tool to call (default: a read-only example tool)")
    parser.add_argument("--args", default="{}", help="JSON object of arguments")
    options = parser.parse_args()
    token = os.environ.get("MCP_BRIDGE_TOKEN")
    if not token:
        print("client: error: set MCP_BRIDGE_TOKEN to a bridge token", file=sys.stderr)
        return 2
    try:
        arguments = json.loads(options.args)
    except json.JSONDecodeError as exc:
        print(f"client: error: --args is not JSON: {exc}", file=sys.stderr)
        return 2
    try:
        return anyio.run(run, options.url, token, options.tool, arguments)
    except Exception as exc:  # a demo client: one readable line beats a traceback
        leaf = exc
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
            leaf = leaf.exceptions[0]
        response = getattr(leaf, "response", None)
        if isinstance(leaf, Refused) or getattr(response, "status_code", None) == 401:
            message = "the bridge refused the token (HTTP 401); check MCP_BRIDGE_TOKEN"
        else:
            message = f"{type(leaf).__name__}: {leaf}"
        print(f"client: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
