"""A minimal MCP client on raw HTTP/1.1 (asyncio streams), so the server is the limit, not it.

The SDK's ``Client`` costs more CPU per call than the server it measures (on 2 cores it is the
bottleneck), so the benchmark speaks the wire itself: pre-encoded request bytes, one kept-alive
connection per client, the response read to its last chunk (so the connection stays reusable,
unlike the SDK 2.3 client on the legacy Streamable HTTP leg). httpx would do the HTTP part, but
at ~150 us of client CPU per request it would again be what is measured. Three wires (see the SDK
reference, section 0):

- ``sse``: ``GET /sse`` stream, ``POST /messages/?session_id=`` (202), the answer on the stream;
  handshake era (``initialize`` + ``notifications/initialized``).
- ``http-legacy``: Streamable HTTP with ``Mcp-Session-Id``, handshake era; each answer is an SSE
  stream (or JSON when the server answers JSON).
- ``http-2026``: Streamable HTTP 2026-07-28, no session: every POST carries the protocol version
  and capabilities in ``params._meta`` and the ``MCP-Protocol-Version``/``Mcp-Method``/``Mcp-Name``
  headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

MODERN = "2026-07-28"
HANDSHAKE = "2025-11-25"
WIRES = ("sse", "http-legacy", "http-2026")
_CLIENT_INFO = {"name": "bench-wire", "version": "1"}


class WireError(Exception):
    """The server answered something other than what the MCP wire promises."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class StreamEnded(WireError):
    """The server ended the SSE stream an answer was awaited on."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One kept-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._host_header = f"{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    def head(self, method: str, path: str, headers: Sequence[tuple[str, str]]) -> bytes:
        """The request line and headers, to be joined with a body (bytes built once)."""
        lines = [f"{method} {path} HTTP/1.1", f"host: {self._host_header}"]
        lines += [f"{name}: {value}" for name, value in headers]
        return ("\r\n".join(lines) + "\r\n").encode()

    async def send(self, head: bytes, body: bytes = b"") -> None:
        assert self._writer is not None
        self._writer.write(b"%bcontent-length: %d\r\n\r\n%b" % (head, len(body), body))

    async def response(self) -> Response:
        """Read one whole response (content-length or chunked)."""
        status, headers = await self.response_head()
        reader = self._reader
        assert reader is not None
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while (chunk := await self.chunk()) is not None:
                parts.append(chunk)
            return Response(status, headers, b"".join(parts))
        return Response(
            status, headers, await reader.readexactly(int(headers.get("content-length", 0)))
        )

    async def response_head(self) -> tuple[int, dict[str, str]]:
        assert self._reader is not None
        raw = await self._reader.readuntil(b"\r\n\r\n")
        first, *rest = raw[:-4].decode("latin-1").split("\r\n")
        headers = {}
        for line in rest:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        return int(first.split(" ", 2)[1]), headers

    async def chunk(self) -> bytes | None:
        """The next chunk of a chunked body, ``None`` after the last one."""
        reader = self._reader
        assert reader is not None
        size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return None
        return (await reader.readexactly(size + 2))[:-2]

    async def request(
        self, method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes = b""
    ) -> Response:
        await self.send(self.head(method, path, headers), body)
        return await self.response()


def events(data: bytes) -> list[dict[str, Any]]:
    """The JSON ``data`` of each event of an SSE body."""
    found = []
    for block in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        payload = b"\n".join(
            line[5:].lstrip() for line in block.split(b"\n") if line.startswith(b"data:")
        )
        if payload:
            found.append(json.loads(payload))
    return found


def _answer(response: Response, request_id: int) -> dict[str, Any]:
    if response.status != 200:
        raise WireError(f"HTTP {response.status}: {response.body[:200]!r}", response.status)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for message in events(response.body):
            if message.get("id") == request_id:
                return message
        raise WireError(f"no answer to request {request_id} in the stream")
    return json.loads(response.body)


def _result(message: dict[str, Any]) -> dict[str, Any]:
    if "result" not in message:
        raise WireError(f"JSON-RPC error: {message.get('error')}")
    return message["result"]


@dataclass
class Session:
    """One client of one wire: ``call(tool, arguments)`` returns the ``CallToolResult`` dict."""

    wire: str
    host: str
    port: int
    token: str
    _ids: int = 0
    _conn: Connection | None = None
    _stream: Connection | None = None
    _buffer: bytes = b""
    _head: bytes = b""
    _endpoint: str = ""
    _session_id: str | None = None
    _heads: dict[tuple[str, str], bytes] = field(default_factory=dict)
    _pending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def auth(self) -> tuple[str, str]:
        return ("authorization", f"Bearer {self.token}")

    async def open(self, *, handshake: bool = True, get_stream: bool = False) -> None:
        """Connect (and, on the handshake-era wires, initialize). ``get_stream`` also opens the
        standalone ``GET /mcp`` stream a legacy Streamable HTTP client keeps."""
        self._conn = Connection(self.host, self.port)
        await self._conn.open()
        if self.wire == "sse":
            await self._open_sse()
        elif self.wire == "http-legacy" and handshake:
            await self._open_http_legacy(get_stream)
        if self.wire != "http-2026" and handshake:
            await self._initialize()

    async def _open_sse(self) -> None:
        self._stream = Connection(self.host, self.port)
        await self._stream.open()
        head = self._stream.head("GET", "/sse", [self.auth, ("accept", "text/event-stream")])
        assert self._stream._writer is not None
        self._stream._writer.write(head + b"\r\n")
        status, _ = await self._stream.response_head()
        if status != 200:
            raise WireError(f"GET /sse: HTTP {status}", status)
        self._endpoint = (await self._event(kind=b"endpoint")).decode()
        self._head = self._conn_head("POST", self._endpoint)

    async def _open_http_legacy(self, get_stream: bool) -> None:
        self._head = self._conn_head("POST", "/mcp")
        if get_stream:
            self._stream = Connection(self.host, self.port)

    def _conn_head(self, method: str, path: str, extra: Sequence[tuple[str, str]] = ()) -> bytes:
        assert self._conn is not None
        headers = [
            self.auth,
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            *extra,
        ]
        return self._conn.head(method, path, headers)

    async def _initialize(self) -> None:
        params = {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": _CLIENT_INFO}
        await self._rpc("initialize", params, initialize=True)
        await self._notify("notifications/initialized")
        if self.wire == "http-legacy" and self._stream is not None:
            await self._stream.open()
            head = self._stream.head(
                "GET", "/mcp", self._legacy_headers(accept="text/event-stream")
            )
            assert self._stream._writer is not None
            self._stream._writer.write(head + b"\r\n")
            status, _ = await self._stream.response_head()
            if status != 200:
                raise WireError(f"GET /mcp: HTTP {status}", status)

    def _legacy_headers(self, accept: str) -> list[tuple[str, str]]:
        assert self._session_id is not None
        return [
            self.auth,
            ("accept", accept),
            ("mcp-session-id", self._session_id),
            ("mcp-protocol-version", HANDSHAKE),
        ]

    def use_token(self, token: str) -> None:
        """Go on with ``token`` (a rotated one): the session's next requests carry it."""
        self.token = token
        self._heads.clear()
        if self.wire == "sse":
            self._head = self._conn_head("POST", self._endpoint)

    async def stream_ended(self) -> None:
        """Return once the server ends this session's stream (what is sent on it is dropped)."""
        assert self._stream is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await self._stream.chunk() is not None:
                pass

    async def idle(self) -> None:
        """Close the POST connection: what is left is what an idle session holds."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def close(self) -> None:
        """End the session as a client does (``DELETE`` on Streamable HTTP) and disconnect."""
        if self.wire == "http-legacy" and self._session_id is not None:
            if self._conn is None:
                self._conn = Connection(self.host, self.port)
                await self._conn.open()
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await self._conn.request("DELETE", "/mcp", self._legacy_headers("application/json"))
        for conn in (self._stream, self._conn):
            if conn is not None:
                await conn.close()

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        result = await self._rpc("tools/call", params, name=tool)
        return result

    async def list_tools(self) -> list[dict[str, Any]]:
        return list((await self._rpc("tools/list", {}))["tools"])

    async def _rpc(
        self, method: str, params: dict[str, Any], *, name: str = "", initialize: bool = False
    ) -> dict[str, Any]:
        assert self._conn is not None
        self._ids += 1
        request_id = self._ids
        if self.wire == "http-2026":
            params = {
                **params,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": MODERN,
                    "io.modelcontextprotocol/clientInfo": _CLIENT_INFO,
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            }
        body = json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
            separators=(",", ":"),
        ).encode()
        if self.wire == "sse":
            await self._conn.send(self._head, body)
            accepted = await self._conn.response()
            if accepted.status != 202:
                raise WireError(f"POST /messages/: HTTP {accepted.status}", accepted.status)
            return _result(await self._message(request_id))
        if initialize:
            head = self._head
        elif (head := self._heads.get((method, name), b"")) == b"":
            head = self._heads[method, name] = self._post_head(method, name)
        await self._conn.send(head, body)
        response = await self._conn.response()
        if initialize:
            self._session_id = response.headers.get("mcp-session-id")
            if self._session_id is None:
                raise WireError(f"initialize: no session id (HTTP {response.status})")
        return _result(_answer(response, request_id))

    def _post_head(self, method: str, name: str) -> bytes:
        if self.wire == "http-2026":
            named = [("mcp-name", name)] if name else []
            extra = [("mcp-protocol-version", MODERN), ("mcp-method", method), *named]
        else:
            extra = [
                ("mcp-session-id", self._session_id or ""),
                ("mcp-protocol-version", HANDSHAKE),
            ]
        return self._conn_head("POST", "/mcp", extra)

    async def _notify(self, method: str) -> None:
        assert self._conn is not None
        body = json.dumps({"jsonrpc": "2.0", "method": method}).encode()
        if self.wire == "sse":
            await self._conn.send(self._head, body)
        else:
            await self._conn.send(self._post_head(method, ""), body)
        accepted = await self._conn.response()
        if accepted.status != 202:
            raise WireError(f"{method}: HTTP {accepted.status}", accepted.status)

    async def _message(self, request_id: int) -> dict[str, Any]:
        for index, message in enumerate(self._pending):
            if message.get("id") == request_id:
                return self._pending.pop(index)
        while True:
            message = json.loads(await self._event(kind=b"message"))
            if message.get("id") == request_id:
                return message
            self._pending.append(message)

    async def _event(self, kind: bytes) -> bytes:
        """The data of the next event of type ``kind`` on the SSE stream."""
        assert self._stream is not None
        while True:
            end, size = _event_end(self._buffer)
            while end < 0:
                chunk = await self._stream.chunk()
                if chunk is None:
                    raise StreamEnded("the SSE stream ended")
                self._buffer += chunk
                end, size = _event_end(self._buffer)
            block, self._buffer = self._buffer[:end], self._buffer[end + size :]
            event, data = b"message", []
            for line in block.replace(b"\r\n", b"\n").split(b"\n"):
                if line.startswith(b"event:"):
                    event = line[6:].strip()
                elif line.startswith(b"data:"):
                    data.append(line[5:].lstrip())
            if event == kind and data:
                return b"\n".join(data)


def _event_end(buffer: bytes) -> tuple[int, int]:
    crlf, lf = buffer.find(b"\r\n\r\n"), buffer.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return crlf, 4
    return lf, 2 if lf >= 0 else 0


@contextlib.asynccontextmanager
async def session(
    wire: str, host: str, port: int, token: str, **options: Any
) -> AsyncIterator[Session]:
    opened = Session(wire, host, port, token)
    try:
        await opened.open(**options)
        yield opened
    finally:
        await opened.close()
