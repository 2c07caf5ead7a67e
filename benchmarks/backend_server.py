"""The OpenAPI backend of the benchmark: the test suite's inventory service under uvicorn.

Run as ``python backend_server.py`` with the service's credential as the first line on stdin;
prints ``ready PORT`` once it listens on 127.0.0.1.
"""

from __future__ import annotations

import collections
import socket
import sys

import uvicorn

from tests.bridge.backends.inventory import inventory_app


class _AnnouncingServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            print(f"ready {sockets[0].getsockname()[1]}", flush=True)


def main() -> None:
    secret = sys.stdin.readline().strip()
    if not secret:
        sys.exit("backend_server.py: give the service's credential as the first line on stdin")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    seen: collections.deque[dict[str, str]] = collections.deque(maxlen=8)
    config = uvicorn.Config(inventory_app(secret, seen), log_level="warning", lifespan="off")
    _AnnouncingServer(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
