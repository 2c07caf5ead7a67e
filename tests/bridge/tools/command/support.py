"""Helpers for the command tool tests: a tool from a few fields, a run, a process family."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.types import CallToolResult, TextContent

from bridge.tools.command.config import CommandToolConfig
from bridge.tools.command.source import command_source
from bridge.tools.registry import CallContext, ToolSpec
from bridge.tools.secrets import SecretResolver, StaticSecrets

PY = sys.executable


HERE = Path(__file__).resolve().parent


SECRET = "sk-live-4Kd8Qm2Vx7Nz5Wp3"


CONTEXT = CallContext(timeout=30, max_output=64 * 1024)


def command(config_dir: Path, secrets: SecretResolver | None = None, **fields: Any) -> ToolSpec:
    cfg = CommandToolConfig.model_validate(
        {"name": "cmd", **fields}, context={"config_dir": config_dir}
    )
    (spec,) = command_source(cfg, config_dir, secrets or StaticSecrets()).tools()
    return spec


def python(code: str, *extra: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code), *extra]


def run(spec: ToolSpec, arguments: dict[str, Any] | None = None, **context: Any) -> CallToolResult:
    ctx = CallContext(timeout=30, max_output=context.get("max_output", 64 * 1024))
    return anyio.run(spec.call, arguments or {}, ctx)


def text(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_until(predicate: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# A child that starts a grandchild in its process group, reports both pids, then hangs.
FAMILY = """
    import os, signal, subprocess, sys, time
    if sys.argv[2] == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d %d" % (os.getpid(), grandchild.pid))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(60)
"""


def family(tmp_path: Path, mode: str = "plain") -> tuple[ToolSpec, Path]:
    pidfile = tmp_path / "pids"
    spec = command(tmp_path, argv=python(FAMILY, str(pidfile), mode))
    return spec, pidfile


async def wait_for_file(path: Path, seconds: float = 10.0) -> list[int]:
    with anyio.fail_after(seconds):
        while not path.exists():
            await anyio.sleep(0.02)
    return [int(pid) for pid in path.read_text().split()]


ECHO_ARGS = python("import json, sys; sys.stdout.write(json.dumps(sys.argv[1:]))")
