"""TLS on the bridge itself: ``server.tls_cert`` / ``server.tls_key`` served by uvicorn, and the
real MCP client verifying the bridge against the generated CA over both transports."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from bridge.app import create_app
from bridge.config import BridgeConfig, load_config, reachability
from bridge.errors import ConfigError
from bridge.serve import uvicorn_config
from bridge.tools.loader import build_registry
from bridge.tunnel import certificates
from bridge.tunnel.deployment import write_file
from tests.support.live import free_socket
from vaults.store import Store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pem(key: object) -> str:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip


def _tls_config(folder: Path, port: int, *, days: int = 90) -> tuple[Path, str]:
    ca_key, ca = certificates.new_authority()
    key, cert = certificates.issue_server(ca_key, ca, ["localhost"], ips=["127.0.0.1"], days=days)
    write_file(folder / "tls.key", _pem(key), mode=0o600)
    write_file(
        folder / "tls.crt", cert.public_bytes(serialization.Encoding.PEM).decode(), mode=0o644
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    (folder / "bridge.toml").write_text(
        f'[server]\nname = "tls"\nport = {port}\ntls_cert = "tls.crt"\ntls_key = "tls.key"\n'
        '[[tools.command]]\nname = "hello"\ndescription = "Say hello"\nargv = ["echo", "hello"]\n'
    )
    return folder / "bridge.toml", ca_pem


@contextmanager
def _serving(config: BridgeConfig, store: Store, sock: object) -> Iterator[None]:
    registry = build_registry(config, store.secret_resolver())
    with store.token_index(config.auth.tokens) as verifier:
        server = uvicorn.Server(uvicorn_config(create_app(config, registry, verifier), config))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        try:
            yield
        finally:
            server.should_exit = True
            thread.join(10)


@pytest.mark.anyio
async def test_the_bridge_serves_tls_that_the_mcp_client_verifies(tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    path, ca_pem = _tls_config(tmp_path, port)
    config = load_config(path)
    assert config.server.public_url == f"https://127.0.0.1:{port}/mcp"
    trusted = ssl.create_default_context(cadata=ca_pem)
    with Store.open() as store:
        token = store.add_token("agents").token
        headers = {"Authorization": f"Bearer {token}"}
        with _serving(config, store, sock):
            http = httpx2.AsyncClient(headers=headers, verify=trusted)
            async with (
                http,
                Client(
                    streamable_http_client(f"https://127.0.0.1:{port}/mcp", http_client=http)
                ) as client,
            ):
                names = [tool.name for tool in (await client.list_tools()).tools]

            def factory(**options: object) -> httpx2.AsyncClient:
                return httpx2.AsyncClient(verify=trusted, **options)  # type: ignore[arg-type]

            sse = sse_client(
                f"https://127.0.0.1:{port}/sse", headers=headers, httpx_client_factory=factory
            )
            async with Client(sse, mode="legacy") as client:
                assert [tool.name for tool in (await client.list_tools()).tools] == names
            with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                httpx2.get(f"https://127.0.0.1:{port}/healthz")
    assert names == ["hello"]


def test_tls_keys_go_together_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "bridge.toml").write_text('[server]\ntls_cert = "missing.crt"\n')
    with pytest.raises(ConfigError, match="tls_cert and tls_key go together"):
        load_config(tmp_path / "bridge.toml")
    (tmp_path / "bridge.toml").write_text('[server]\ntls_cert = "a.crt"\ntls_key = "a.key"\n')
    with pytest.raises(ConfigError, match=r"a\.crt does not exist"):
        load_config(tmp_path / "bridge.toml")


def test_a_certificate_expiring_soon_is_reported(tmp_path: Path) -> None:
    path, _ = _tls_config(tmp_path, 8765, days=10)
    [warning] = reachability(load_config(path))
    assert "server.tls_cert" in warning and "expires in 9 days" in warning
