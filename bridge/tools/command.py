"""Command-line programs as tools: ``[[tools.command]]``.

Never a shell. Each argv element is a template; a ``{param}`` placeholder is replaced by the
argument's text *inside that one element*, so spaces, quotes and shell metacharacters stay part
of that element. A placeholder that fills a whole element can still begin with ``-``; where the
program supports it, write ``--path={path}`` or put ``--`` before it.

The child runs in its own process group with a clean environment: ``PATH`` (the bridge's, with
the running interpreter's directory first, so ``python`` means the bridge's Python), ``HOME``,
``LANG``, plus the ``env`` table, whose ``vault:NAME`` values are read at call time and redacted
from the result. Output is read to the end but kept only up to ``CallContext.max_output`` bytes
per stream (the head of stdout, the tail of stderr), with an explicit truncation notice.

Exit code 0 gives a text result with stdout (and stderr with ``include_stderr``); any other exit
gives an ``isError`` result with the exit code, stdout and the tail of stderr. Invalid arguments
raise ``ToolError``. Timeouts come from the server as cancellation: on cancellation the whole
process group gets SIGTERM, then SIGKILL after a short grace, and the child is always reaped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
from jsonschema import Draft202012Validator
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from bridge.config import CommandToolConfig, parse_template
from bridge.errors import SecretUnavailableError
from bridge.tools.registry import CallContext, StaticSource, ToolSpec
from bridge.tools.secrets import SecretResolver, redact, resolve_references

KILL_GRACE = 2.0
_POLL = 0.02
_CHUNK = 64 * 1024


def input_schema(cfg: CommandToolConfig) -> dict[str, Any]:
    """The JSON schema of a command tool's arguments, from its ``params`` table."""
    properties: dict[str, Any] = {}
    for name, param in cfg.params.items():
        prop: dict[str, Any] = {"type": param.type}
        if param.description:
            prop["description"] = param.description
        if param.default is not None:
            prop["default"] = param.default
        if param.enum is not None:
            prop["enum"] = list(param.enum)
        if param.pattern is not None:
            prop["pattern"] = param.pattern
        properties[name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name, param in cfg.params.items() if param.required],
        "additionalProperties": False,
    }


def command_source(
    cfg: CommandToolConfig, config_dir: Path, secrets: SecretResolver
) -> StaticSource:
    """One tool running ``cfg.argv``; ``cwd`` defaults to ``config_dir``."""
    schema = input_schema(cfg)
    validator = Draft202012Validator(schema)
    template = [parse_template(element) for element in cfg.argv]
    cwd = cfg.cwd or Path(config_dir)

    async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
        values = _validated(cfg, validator, arguments)
        argv = [_render(parts, values) for parts in template]
        if any("\x00" in element for element in argv):
            raise ToolError(
                f"Error executing tool {cfg.name}: arguments must not contain NUL bytes"
            )
        env, hidden = await anyio.to_thread.run_sync(_environment, cfg, secrets)
        return await run_command(
            argv,
            cwd=cwd,
            env=env,
            max_output=context.max_output,
            include_stderr=cfg.include_stderr,
            hidden=hidden,
            name=cfg.name,
        )

    spec = ToolSpec(
        name=cfg.name,
        description=cfg.description,
        input_schema=schema,
        call=call,
        source=f"command:{cfg.name}",
        annotations=ToolAnnotations(
            read_only_hint=cfg.read_only,
            destructive_hint=None if cfg.read_only else cfg.destructive is not False,
        ),
        timeout=cfg.timeout,
    )
    return StaticSource(name=f"command:{cfg.name}", specs=[spec])


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


def base_environment() -> dict[str, str]:
    """The environment every command starts from (before its ``env`` table)."""
    path = os.environ.get("PATH") or os.defpath
    interpreter_dir = str(Path(sys.executable).parent)
    if interpreter_dir not in path.split(os.pathsep):
        path = f"{interpreter_dir}{os.pathsep}{path}"
    return {
        "PATH": path,
        "HOME": os.environ.get("HOME") or str(Path.home()),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }


def program_problem(program: str, cwd: Path, env: Mapping[str, str]) -> str | None:
    """Why ``program`` cannot be started from ``cwd`` with ``env``'s PATH, or ``None``."""
    search = env.get("PATH", base_environment()["PATH"])
    if os.sep in program:
        target = Path(program) if Path(program).is_absolute() else cwd / program
        if not (target.is_file() and os.access(target, os.X_OK)):
            return f"program {program!r} is not an executable file"
    elif shutil.which(program, path=search) is None:
        return f"program {program!r} is not on PATH ({search})"
    return None


def _environment(
    cfg: CommandToolConfig, secrets: SecretResolver
) -> tuple[dict[str, str], tuple[str, ...]]:
    try:
        values, hidden = resolve_references(cfg.env, secrets, "env")
    except SecretUnavailableError as exc:
        raise ToolError(f"Error executing tool {cfg.name}: {exc}") from exc
    return base_environment() | values, hidden


def _validated(
    cfg: CommandToolConfig, validator: Draft202012Validator, arguments: dict[str, Any]
) -> dict[str, Any]:
    problems = []
    for error in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path)
        problems.append(f"{where}: {error.message}" if where else error.message)
    if problems:
        raise ToolError(
            f"Error executing tool {cfg.name}: invalid arguments: {'; '.join(problems)}"
        )
    values = {
        name: param.default for name, param in cfg.params.items() if param.default is not None
    }
    values.update(arguments)
    for name, param in cfg.params.items():
        if param.type == "integer" and isinstance(values.get(name), float):
            values[name] = int(values[name])
    return values


def _render(parts: list[tuple[str, str | None]], values: Mapping[str, Any]) -> str:
    out = []
    for literal, field in parts:
        out.append(literal)
        if field is not None:
            out.append(_as_text(values[field]))
    return "".join(out)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
