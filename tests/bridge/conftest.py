"""A running bridge on a free loopback port, and an MCP client for each transport."""

from __future__ import annotations

import contextlib
import shutil
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from bridge.app import create_app
from bridge.config import BridgeConfig, load_config
from bridge.serve import oauth_service
from bridge.tools.loader import build_registry
from tests.support.live import free_socket, serve
from vaults.store import Store

TOOLBOX = Path(__file__).parent / "toolbox"
TRANSPORTS = ["sse", "http", "http-legacy"]
HANG = TOOLBOX / "hang.py"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class RunningBridge:
    url: str
    store: Store
    token: str
    config: BridgeConfig
    workdir: Path

    def endpoint(self, transport: str) -> str:
        return f"{self.url}/sse" if transport == "sse" else f"{self.url}/mcp"


BASE_TOML = """
[server]
name = "test-bridge"

[server.limits]
tool_timeout = "5s"
max_output_bytes = 65536

[[tools.python]]
module = "bridge_test_tools"

[[tools.command]]
name = "greet"
description = "Say hello"
argv = ["{python}", "-c", "import sys; print('hello ' + sys.argv[1])", "{{who}}"]
params = {{ who = {{ type = "string", description = "Who to greet" }} }}
read_only = true

[[tools.command]]
name = "hang"
description = "Start a child and a grandchild, then hang"
argv = ["{python}", "{hang}", "{{pidfile}}"]
params = {{ pidfile = {{ type = "string" }} }}
timeout = "1s"
"""


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open() as opened:
        opened.init()
        yield opened


@pytest.fixture
def start_bridge(tmp_path: Path, store: Store) -> Iterator[Callable[..., RunningBridge]]:
    stack = contextlib.ExitStack()

    def start(
        extra: str = "",
        *,
        token_name: str = "agents",
        scopes: tuple[str, ...] = (),
        public_path: str = "mcp",
        public_url: str | None = None,
    ) -> RunningBridge:
        import sys

        workdir = tmp_path / "bridge"
        workdir.mkdir(exist_ok=True)
        shutil.copy(TOOLBOX / "bridge_test_tools.py", workdir)
        sock = free_socket()
        port = sock.getsockname()[1]
        stack.callback(sock.close)
        public_url = public_url or f"http://127.0.0.1:{port}/{public_path}"
        text = BASE_TOML.format(python=sys.executable, hang=HANG).replace(
            'name = "test-bridge"\n',
            f'name = "test-bridge"\nport = {port}\npublic_url = "{public_url}"\n',
        )
        (workdir / "bridge.toml").write_text(text + textwrap.dedent(extra))
        config = load_config(workdir / "bridge.toml")
        token = store.add_token(token_name, scopes=scopes).token
        registry = build_registry(config, store.secret_resolver())
        verifier = store.token_index(config.auth.tokens)
        stack.callback(verifier.close)
        app = create_app(config, registry, verifier, oauth=oauth_service(store, config))
        live = stack.enter_context(serve(app, sock=sock))
        return RunningBridge(live.url, store, token, config, workdir)

    with stack:
        yield start


@contextlib.asynccontextmanager
async def connect(
    bridge: RunningBridge, transport: str, token: str | None = None, **options: Any
) -> AsyncIterator[Client]:
    """An MCP client over ``transport`` holding ``token`` (the bridge's token by default)."""
    token = bridge.token if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if transport == "sse":
        async with Client(
            sse_client(bridge.endpoint("sse"), headers=headers), mode="legacy", **options
        ) as client:
            yield client
        return
    mode = "legacy" if transport == "http-legacy" else "auto"
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
    transport_cm = streamable_http_client(bridge.endpoint("http"), http_client=http)
    async with http, Client(transport_cm, mode=mode, **options) as client:
        yield client


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)
