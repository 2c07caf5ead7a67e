"""The stdio transport of a proxied MCP server: its child process and newline-delimited JSON-RPC,
with the call lane's traffic kept out of the SDK's models.

Written here rather than taken from the SDK's ``stdio_client``, which parses every line into a
pydantic message in a reader task and hands it on over a memory stream, and writes every message
from a writer task fed by another: a proxied call paid for both tasks, both hops and both models
on the bridge's own time, a tenth of it per call when instrumented (2 cores). Here the lane
(:mod:`bridge.tools.mcp.lane`) writes its requests from the caller's task, and a line that
answers one of them is decoded with ``json`` and given to the lane by the reader; every other line
is parsed with the SDK's message model and goes to the SDK's session (blank lines are skipped;
lines are UTF-8, the encoding MCP prescribes), and the session's messages are written as the
SDK writes them. The child is spawned and stopped with the SDK's own functions
(its own session; at the end stdin closed, a grace period, then the process group terminated and
killed), private to ``mcp.client.stdio``: the SDK has no public entry for them, and writing them
again would only drift from it. Output is read as it comes; nothing more is read while a line
waits for the session (a lane answer behind it waits too, as it did in the SDK's transport). On
Windows the SDK's transport is used, and calls go through its session.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.abc
import mcp_types
from mcp import StdioServerParameters
from mcp.client.stdio import (
    _create_platform_compatible_process,
    _get_executable_command,
    _stop_server_process,
    get_default_environment,
)
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

log = logging.getLogger("bridge.mcp")

_CHUNK = 65536
_ERRLOG = sys.stderr  # the child's stderr: the SDK's default, also read at import
_PIPE_ERRORS = (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError)
# A line can only answer the lane if it carries one of the lane's ids ("bridge-N").
LANE_ID_PREFIX = "bridge-"
_LANE_MARK = b'"' + LANE_ID_PREFIX.encode()


class Pipe:
    """The child's stdin and stdout, shared by the SDK's session and the lane."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._deliver, self._delivered = anyio.create_memory_object_stream[
            SessionMessage | Exception
        ](0)
        self._divert: Callable[[dict[str, Any]], bool] | None = None
        self.read = PipeRead(self)
        self.write = PipeWrite(self)

    def divert(self, take: Callable[[dict[str, Any]], bool]) -> None:
        """Offer each answer to a ``bridge-N`` request to ``take`` first (the lane), decoded;
        what it takes does not reach the session."""
        self._divert = take

    async def send_line(self, data: bytes) -> None:
        """Write one message (``data`` ends with a newline); ``BrokenResourceError`` if the
        child's stdin is gone, which also ends the session's read side."""
        try:
            await self._stdin.send(data)
        except _PIPE_ERRORS:
            self._deliver.close()
            raise anyio.BrokenResourceError from None

    async def _read(self, shutting_down: Callable[[], bool]) -> None:
        try:
            partial = bytearray()  # the start of a line longer than what has been read
            while True:
                try:
                    chunk = await self._stdout.receive(_CHUNK)
                except anyio.EndOfStream:
                    return
                if b"\n" not in chunk:
                    partial += chunk
                    continue
                lines = chunk.split(b"\n")
                if partial:
                    lines[0] = bytes(partial + lines[0])
                partial = bytearray(lines.pop())
                for line in lines:
                    if not line.strip() or self._diverted(line):
                        continue
                    try:
                        await self._deliver.send(_parsed(line))
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        return  # the session is gone; only the drain remains
        except anyio.ClosedResourceError:
            pass  # our own shutdown closed stdout under the read
        except (anyio.BrokenResourceError, ConnectionError):
            if not shutting_down():
                log.exception("reading the MCP server's stdout failed mid-session")
        finally:
            self._deliver.close()  # however the reader ends, the session sees the end
            await _drain(self._stdout)

    def _diverted(self, line: bytes) -> bool:
        if self._divert is None or _LANE_MARK not in line:
            return False
        try:
            decoded = json.loads(line)
        except (ValueError, RecursionError):  # the session's parse says what is wrong
            return False
        if not isinstance(decoded, dict) or "method" in decoded:
            return False
        request_id = decoded.get("id")
        if not isinstance(request_id, str) or not request_id.startswith(LANE_ID_PREFIX):
            return False
        return self._divert(decoded)


class PipeRead:
    """The session's read stream (the SDK's ``ReadStream``): what the lane did not take."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    async def receive(self) -> SessionMessage | Exception:
        return await self.pipe._delivered.receive()

    def __aiter__(self) -> PipeRead:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.pipe._delivered.close()

    def close(self) -> None:
        self.pipe._delivered.close()

    async def __aenter__(self) -> PipeRead:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class PipeWrite:
    """The session's write stream: each message written to stdin from the sender's task, in
    one write (so that messages written at once never interleave)."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self._closed = False

    async def send(self, item: SessionMessage) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        text = item.message.model_dump_json(by_alias=True, exclude_unset=True)
        await self.pipe.send_line(text.encode() + b"\n")

    async def aclose(self) -> None:
        self._closed = True

    def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> PipeWrite:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _parsed(line: bytes) -> SessionMessage | Exception:
    """One stdout line as the SDK's session takes it (a parse error is handed on as a value)."""
    try:
        message = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValueError as exc:
        # Not the line, nor pydantic's message (it quotes the input): the server's output may
        # carry the vault values in its environment.
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        kinds = sorted({error["type"] for error in errors})
        log.warning(
            "the MCP server wrote a line that is not a JSON-RPC message (%d bytes; %s); the "
            "session ignores it",
            len(line),
            ", ".join(kinds) or type(exc).__name__,
        )
        return exc
    return SessionMessage(message)


async def _drain(stdout: anyio.abc.ByteReceiveStream) -> None:
    """Read and drop what the child still writes, so that it never blocks on a full pipe
    while it is being stopped (shielded; ends when the pipe closes)."""
    with anyio.CancelScope(shield=True), contextlib.suppress(*_PIPE_ERRORS, anyio.EndOfStream):
        while True:
            await stdout.receive(_CHUNK)


@contextlib.asynccontextmanager
async def stdio_pipe(server: StdioServerParameters) -> AsyncIterator[tuple[PipeRead, PipeWrite]]:
    """Spawn ``server`` and yield the session's streams (``read.pipe`` is the :class:`Pipe`);
    on exit, stop the child as the SDK does, even when cancelled."""
    command = await _get_executable_command(server.command)
    process = await _create_platform_compatible_process(
        command=command,
        args=server.args,
        env=get_default_environment() | (server.env or {}),
        errlog=_ERRLOG,
        cwd=server.cwd,
    )
    assert isinstance(process, anyio.abc.Process)
    pipe = Pipe(process)
    shutting_down = False
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(pipe._read, lambda: shutting_down)
        try:
            yield pipe.read, pipe.write
        finally:
            shutting_down = True
            with anyio.CancelScope(shield=True):
                pipe.read.close()  # the reader, blocked on a delivery, goes to its drain
                pipe._deliver.close()  # (also if the reader never ran)
                pipe.write.close()
                await _stop_server_process(process)
                await anyio.lowlevel.checkpoint()
            tasks.cancel_scope.cancel()
