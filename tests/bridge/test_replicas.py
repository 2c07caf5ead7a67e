"""Two bridge replicas on one PostgreSQL store, behind a round-robin proxy with no stickiness:
any replica answers any sessionless call, a revocation reaches every replica within a second,
a rotation under load fails no call, and a replica killed mid-run leaves the others serving."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketAttribute
from mcp.types import TextContent

from bridge.config import load_config
from bridge.errors import ConfigError
from tests.bridge.fleet import CRM_KEY, Fleet, client, fleet, new_token, round_robin, status

pytestmark = pytest.mark.anyio


def _text(result: object) -> str:
    return "".join(b.text for b in result.content if isinstance(b, TextContent))  # type: ignore[attr-defined]


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """A free port for the proxy, known before the replicas' public_url."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    """Two replicas started on one store; the proxy is started by each test (its event loop)."""
    with socket_port() as port, fleet(tmp_path, postgres_url, port, monkeypatch) as running:
        running.start()
        running.start()
        yield running


async def _proxy(running: Fleet, group: anyio.abc.TaskGroup) -> None:
    listener = await anyio.create_tcp_listener(
        local_host="127.0.0.1", local_port=running.proxy_port
    )
    assert listener.extra(SocketAttribute.local_port) == running.proxy_port  # noqa: S610
    group.start_soon(round_robin, listener, running)


async def test_calls_alternating_between_replicas_never_fail(replicas: Fleet) -> None:
    async with anyio.create_task_group() as group:
        await _proxy(replicas, group)
        async with client(replicas.proxy_url, replicas.token) as mcp:
            for i in range(40):
                assert _text(await mcp.call_tool("echo", {"text": f"n{i}"})) == f"n{i}"
            for _ in range(2):  # the tool secret, decrypted by each replica from the database
                result = await mcp.call_tool("crm_key_length", {})
                assert _text(result) == str(len(CRM_KEY))
        group.cancel_scope.cancel()
    served = [replica.calls() for replica in replicas.replicas]
    assert sum(served) == 42 and min(served) >= 16, served  # both answered, alternately


async def test_a_revocation_is_refused_by_every_replica_within_a_second(replicas: Fleet) -> None:
    a, b = replicas.replicas
    async with client(a.url, replicas.token) as on_a, client(b.url, replicas.token) as on_b:
        assert _text(await on_a.call_tool("echo", {"text": "a"})) == "a"
        assert _text(await on_b.call_tool("echo", {"text": "b"})) == "b"
    done = replicas.vault("revoke", "agents")
    assert done.returncode == 0, done.stderr
    revoked = time.monotonic()
    refused: dict[str, float] = {}
    while len(refused) < 2:
        for replica in (a, b):
            if replica.url not in refused and await status(replica.url, replicas.token) == 401:
                refused[replica.url] = time.monotonic() - revoked
        assert time.monotonic() - revoked < 1.0, f"still accepted after 1 s: {refused}"
    print(f"revocation refused by A after {refused[a.url] * 1000:.0f} ms, "
          f"by B after {refused[b.url] * 1000:.0f} ms")  # fmt: skip


async def test_a_rotation_under_eight_clients_fails_no_call(replicas: Fleet) -> None:
    tokens = [replicas.token]
    calls: list[str] = []
    failures: list[BaseException] = []
    rotated = anyio.Event()

    async def worker(n: int) -> None:
        token = tokens[0]
        async with client(replicas.proxy_url, token) as mcp:
            for i in range(30):
                try:
                    result = await mcp.call_tool("echo", {"text": f"{n}-{i}"})
                    assert _text(result) == f"{n}-{i}"
                    calls.append(token)
                except BaseException as exc:
                    failures.append(exc)
                if i == 15 and n % 2 == 0:
                    break  # half the clients move to the new token after the rotation
        if n % 2 == 0:
            await rotated.wait()
            async with client(replicas.proxy_url, tokens[-1]) as mcp:
                for _ in range(15):
                    try:
                        assert _text(await mcp.call_tool("echo", {"text": "x"})) == "x"
                        calls.append(tokens[-1])
                    except BaseException as exc:
                        failures.append(exc)

    async def rotate() -> None:
        await anyio.sleep(0.3)
        result = await anyio.to_thread.run_sync(
            lambda: replicas.vault("rotate", "agents", "--grace", "1h")
        )
        tokens.append(new_token(result))
        rotated.set()

    async with anyio.create_task_group() as group:
        await _proxy(replicas, group)
        async with anyio.create_task_group() as clients:
            for n in range(8):
                clients.start_soon(worker, n)
            clients.start_soon(rotate)
        group.cancel_scope.cancel()
    assert failures == []
    assert len(calls) == 4 * 30 + 4 * 16 + 4 * 15
    assert calls.count(tokens[1]) == 4 * 15  # the new token, accepted by both replicas
    assert all(replica.calls() > 0 for replica in replicas.replicas)


async def test_a_replica_killed_mid_run_leaves_the_others_serving(replicas: Fleet) -> None:
    a, b = replicas.replicas
    failed_after_kill = 0
    before = b.calls()
    async with anyio.create_task_group() as group:
        await _proxy(replicas, group)
        async with client(replicas.proxy_url, replicas.token) as mcp:
            for i in range(20):
                assert _text(await mcp.call_tool("echo", {"text": f"{i}"})) == f"{i}"
            a.kill()  # kill -9: no drain, its sessions with the database just end
            for i in range(30):
                try:
                    assert _text(await mcp.call_tool("echo", {"text": f"{i}"})) == f"{i}"
                except Exception:
                    failed_after_kill += 1
        group.cancel_scope.cancel()
    assert failed_after_kill == 0
    assert b.calls() - before >= 30
    # The survivor still follows the store: a revocation reaches it.
    assert replicas.vault("revoke", "agents").returncode == 0
    started = time.monotonic()
    while await status(b.url, replicas.token) != 401:
        assert time.monotonic() - started < 1.0


def test_the_config_names_the_database_without_a_password(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[store]\ndatabase_url = "postgresql://mcp@db.internal/vault"\n')
    assert (
        load_config(config, environ={}).store.database_url == "postgresql://mcp@db.internal/vault"
    )
    for bad, message in (
        ("postgresql://mcp:hunter2@db/vault", "must not carry a password"),
        ("postgresql://mcp@db/vault?password=hunter2", "must not carry a password"),
        ("mysql://db/vault", "must be a postgresql:// URL"),
    ):
        config.write_text(f'[store]\ndatabase_url = "{bad}"\n')
        with pytest.raises(ConfigError, match=message) as caught:
            load_config(config, environ={})
        assert "hunter2" not in str(caught.value)


def test_an_oauth_token_from_one_replica_works_on_the_other_until_the_client_is_revoked(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import json

    import httpx

    with socket_port() as port, fleet(tmp_path, postgres_url, port, monkeypatch) as running:
        a = running.start("[auth.oauth]\nenabled = true\n")
        b = running.start("[auth.oauth]\nenabled = true\n")
        added = running.vault("oauth", "client", "add", "agent", "--json")
        assert added.returncode == 0, added.stderr
        client = json.loads(added.stdout)
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
        issued = httpx.post(
            a.url.removesuffix("/mcp") + "/token", data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic.decode()}"}, timeout=10,
        )  # fmt: skip
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        assert anyio.run(status, b.url, token) != 401  # minted by A, known to B at once
        done = running.vault("oauth", "client", "revoke", "agent")
        assert done.returncode == 0, done.stderr
        revoked = time.monotonic()
        while anyio.run(status, a.url, token) != 401 or anyio.run(status, b.url, token) != 401:
            assert time.monotonic() - revoked < 1.0, "a revoked client's token still works"
