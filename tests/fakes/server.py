"""Serve the Managed Agents fake under a real uvicorn on 127.0.0.1, in a background thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.managed_agents import ManagedAgentsState, create_app


@dataclass(frozen=True)
class RunningFake:
    """A fake API being served: point ``anthropic.Anthropic(base_url=..., api_key=...)`` at it."""

    base_url: str
    state: ManagedAgentsState

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


class FakeServer:
    """A uvicorn serving whichever state was installed last.

    Swapping the state instead of restarting uvicorn keeps per-test fakes cheap: a uvicorn
    shutdown alone takes ~0.2 s.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._app: ASGIApp | None = None

    def install(self, state: ManagedAgentsState) -> RunningFake:
        self._app = create_app(state)
        return RunningFake(base_url=self.base_url, state=state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            raise RuntimeError("no fake state installed")
        await self._app(scope, receive, send)


class _Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


def _bind(port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says so; with proto 0 every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextmanager
def run_server(
    *, port: int = 0, startup_timeout: float = 10.0, shutdown_timeout: float = 10.0
) -> Iterator[FakeServer]:
    """Run uvicorn on 127.0.0.1 (``port`` 0: a free one) until the block exits."""
    sock = _bind(port)
    fake = FakeServer(f"http://127.0.0.1:{sock.getsockname()[1]}")
    config = uvicorn.Config(
        fake,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = _Uvicorn(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-managed-agents", daemon=True
    )
    thread.start()
    try:
        if not server.ready.wait(startup_timeout):
            raise RuntimeError(f"the fake API did not start within {startup_timeout}s")
        yield fake
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"the fake API did not stop within {shutdown_timeout}s")


@contextmanager
def serve_fake(
    state: ManagedAgentsState | None = None, *, port: int = 0, startup_timeout: float = 10.0
) -> Iterator[RunningFake]:
    """Serve ``state`` (a fresh one by default) on its own uvicorn until the block exits.

    Pass a stopped fake's ``port`` and ``state`` to bring the same API back after an outage.
    Open event streams are ended before shutdown.
    """
    state = state if state is not None else ManagedAgentsState()
    with run_server(port=port, startup_timeout=startup_timeout) as server:
        try:
            yield server.install(state)
        finally:
            state.drop_streams()
