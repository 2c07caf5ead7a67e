"""The floor of the stdio rows: the least a proxy can do between HTTP and a stdio MCP server.

One ASGI function and one JSON-RPC pipe, nothing else: no auth, no checks of the request, no
models, no timeout, no log line. ``files_echo`` is forwarded as the server's ``echo`` on one
handshake-era session held for the proxy's life (answers matched by id, so ``c`` callers share
it), and the server's result is sent back as the answer. Served by uvicorn on what the bridge
runs on (uvloop and httptools when installed), so the difference to the bridge's row is the
bridge's own work per call. Not a server anyone should deploy. Run as ``python raw_proxy.py
STDIO_SERVER RECORD_DIR``; prints ``ready PORT`` once uvicorn listens.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import sys
from typing import Any

import uvicorn
from bare_server import announcing_server

_HANDSHAKE = "2025-11-25"


class Pipe:
    """A JSON-RPC session with a stdio server: requests out, answers matched by id."""

    def __init__(self, command: list[str]) -> None:
        self._command = command
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._process: asyncio.subprocess.Process | None = None

    async def open(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        asyncio.get_running_loop().create_task(self._read())
        client = {"name": "raw-proxy", "version": "1"}
        hello = {"protocolVersion": _HANDSHAKE, "capabilities": {}, "clientInfo": client}
        await self.call("initialize", hello)
        self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return await future

    def _write(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(json.dumps(message).encode() + b"\n")

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            message = json.loads(line)
            future = self._pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def close(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
            await self._process.wait()


def raw_app(pipe: Pipe) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await pipe.open()
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await pipe.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body)
        arguments = request["params"].get("arguments", {})
        answer = await pipe.call("tools/call", {"name": "echo", "arguments": arguments})
        reply = {"jsonrpc": "2.0", "id": request["id"], "result": answer["result"]}
        out = json.dumps(reply).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(out))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    return app


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("raw_proxy.py STDIO_SERVER RECORD_DIR")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    app = raw_app(Pipe([sys.executable, *sys.argv[1:]]))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    announcing_server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
