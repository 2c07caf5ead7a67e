"""Run an ASGI app under a real uvicorn on 127.0.0.1 and a free port, in a background thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class LiveServer:
    host: str
    port: int
    server: uvicorn.Server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_socket(host: str = "127.0.0.1") -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off on accepted connections of a socket
    # whose proto is TCP; with proto 0 every response waits for a delayed ACK (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextlib.contextmanager
def serve(
    app: Any, *, sock: socket.socket | None = None, startup_timeout: float = 10.0, **config: Any
) -> Iterator[LiveServer]:
    """Serve ``app`` until the block exits; waits (bounded) for startup and for shutdown.

    Pass ``sock`` (from ``free_socket``) when the app must know its own port before it starts.
    """
    sock = sock if sock is not None else free_socket()
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=3, **config
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited during startup")
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start in time")
        time.sleep(0.01)
    try:
        yield LiveServer(host=host, port=port, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
