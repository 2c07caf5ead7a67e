"""Running one command: its own process group, capped output, a clean kill on cancellation.

Output is read to the end but kept only up to ``max_output`` bytes per stream (the head of
stdout, the tail of stderr), with an explicit truncation notice, and the ``hidden`` values
redacted. Exit code 0 gives a text result with stdout (and stderr with ``include_stderr``); any
other exit gives an ``isError`` result with the exit code, stdout and the tail of stderr.
Timeouts come from the server as cancellation: on cancellation the whole process group gets
SIGTERM, then SIGKILL after ``KILL_GRACE`` seconds, and the child is always reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.abc
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from bridge.tools.secrets import redact

KILL_GRACE = 2.0
_POLL = 0.02
_CHUNK = 64 * 1024


async def run_command(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    max_output: int,
    include_stderr: bool = False,
    hidden: tuple[str, ...] = (),
    name: str = "command",
) -> CallToolResult:
    """Run ``argv`` in its own process group and turn its outcome into a tool result.

    ``hidden`` values are redacted from the output. On cancellation the process group is
    killed (SIGTERM, then SIGKILL after ``KILL_GRACE`` seconds) before the cancellation
    propagates.
    """
    try:
        process = await anyio.open_process(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ToolError(
            f"Error executing tool {name}: cannot run {argv[0]!r} in {cwd}: {reason}"
        ) from exc
    # Keep a little more than the cap so a secret straddling the cut is still seen whole.
    margin = max((len(value.encode()) for value in hidden), default=0)
    stdout = _Capture(max_output + margin, keep="head")
    stderr = _Capture(max_output + margin, keep="tail")
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_drain, process.stdout, stdout)
            group.start_soon(_drain, process.stderr, stderr)
        code = await process.wait()
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(process)
    out = stdout.text(max_output, hidden, "output")
    err = stderr.text(max_output, hidden, "stderr")
    if code == 0:
        text = out
        if include_stderr and err:
            text = f"{text}\n[stderr]\n{err}" if text else f"[stderr]\n{err}"
        return CallToolResult(content=[TextContent(type="text", text=text or "(no output)")])
    parts = [_describe_exit(code)]
    if out:
        parts.append(f"[stdout]\n{out}")
    if err:
        parts.append(f"[stderr]\n{err}")
    return CallToolResult(content=[TextContent(type="text", text="\n".join(parts))], is_error=True)


class _Capture:
    """One stream's first (``head``) or last (``tail``) ``limit`` bytes, and its total size."""

    def __init__(self, limit: int, *, keep: str) -> None:
        self.limit = limit
        self.keep = keep
        self.total = 0
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.keep == "head":
            room = self.limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]
        else:
            self.data += chunk
            if len(self.data) > self.limit:
                del self.data[: len(self.data) - self.limit]

    def text(self, cap: int, hidden: tuple[str, ...], label: str) -> str:
        text = redact(self.data.decode("utf-8", errors="replace"), hidden)
        if self.total <= cap:
            return text
        encoded = text.encode()
        if self.keep == "head":
            kept = encoded[:cap].decode("utf-8", errors="ignore")
            return f"{kept}\n[{label} truncated: {self.total} bytes, showing the first {cap}]"
        kept = encoded[-cap:].decode("utf-8", errors="ignore")
        return f"[{label} truncated: {self.total} bytes, showing the last {cap}]\n{kept}"


async def _drain(stream: anyio.abc.ByteReceiveStream | None, capture: _Capture) -> None:
    if stream is None:
        return
    try:
        while True:
            capture.add(await stream.receive(_CHUNK))
    except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
        return


async def _stop(process: anyio.abc.Process) -> None:
    """Leave nothing of the process group behind, and reap the child."""
    group = process.pid
    if process.returncode is None or _group_alive(group):
        _signal_group(group, signal.SIGTERM)
        with anyio.move_on_after(KILL_GRACE):
            while _group_alive(group):
                await anyio.sleep(_POLL)
        _signal_group(group, signal.SIGKILL)
    await process.aclose()


def _group_alive(group: int) -> bool:
    """True while a live (not zombie) process is in ``group``."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # Zombies still answer killpg(0); an orphan's zombie waits on whoever is PID 1, which in a
    # container may never reap it, so only running members count.
    with os.scandir(proc) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 2 and fields[2] == str(group) and fields[0] not in ("Z", "X"):
                return True
    return False


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"command killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"command killed by signal {-code}"
    return f"command failed with exit code {code}"
