"""How the bridge reaches an upstream MCP server: a stdio child, or SSE / Streamable HTTP.

Nothing of the caller's request is forwarded: a child gets a clean environment (the SDK's
allow-list, :func:`~bridge.tools.child.base_environment` and the ``env`` table, ``vault:`` values
read when the session opens), a remote server gets only the configured ``bearer`` and ``headers``.
Each opener returns the transport and the vault values it read, for redaction.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio.to_thread
import httpx2
from mcp import StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from bridge.tools.child import base_environment
from bridge.tools.mcp.config import McpToolsConfig
from bridge.tools.mcp.pipe import stdio_pipe
from bridge.tools.mcp.upstream import Streams
from bridge.tools.remote_auth import resolve_auth
from bridge.tools.secrets import SecretResolver, resolve_references


async def stdio(
    cfg: McpToolsConfig, cwd: Path, secrets: SecretResolver
) -> tuple[contextlib.AbstractAsyncContextManager[Streams], tuple[str, ...]]:
    assert cfg.command is not None
    values, hidden = await anyio.to_thread.run_sync(resolve_references, cfg.env, secrets, "env")
    params = StdioServerParameters(
        command=cfg.command[0],
        args=list(cfg.command[1:]),
        env=base_environment() | values,
        cwd=cwd,
    )
    # The bridge's own pipe (bridge.tools.mcp.pipe) on POSIX; the SDK's transport elsewhere.
    return (stdio_client(params) if sys.platform == "win32" else stdio_pipe(params)), hidden


async def remote(
    cfg: McpToolsConfig, cwd: Path, secrets: SecretResolver
) -> tuple[contextlib.AbstractAsyncContextManager[Streams], tuple[str, ...]]:
    assert cfg.url is not None
    headers, hidden = await anyio.to_thread.run_sync(resolve_auth, cfg.headers, cfg.bearer, secrets)
    sse = cfg.transport == "sse" or (
        cfg.transport is None and urlsplit(cfg.url).path.rstrip("/").endswith("/sse")
    )
    if sse:
        return sse_client(cfg.url, headers=headers, timeout=cfg.start_timeout), hidden
    return _streamable_http(cfg.url, headers, cfg.start_timeout), hidden


@contextlib.asynccontextmanager
async def _streamable_http(
    url: str, headers: dict[str, str], connect_timeout: float
) -> AsyncIterator[Streams]:
    timeout = httpx2.Timeout(connect_timeout, read=None)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout, follow_redirects=False) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams
