"""`make serve` as a new user runs it: starts, prints a token and a client command that works,
reuses the store on a second run, and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.output import Lines

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _start(store: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "MCP_VAULT_DIR"}
    env["MCP_BRIDGE_PORT"] = "0"
    return subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"DEMO_STORE={store}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[str], lines: Lines) -> list[str]:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return lines.rest()


def _client_command(lines: list[str]) -> str:
    index = next(i for i, line in enumerate(lines) if line.strip() == "try it:")
    return lines[index + 1].strip()


def test_make_serve_prints_a_working_client_command_and_reuses_its_store(tmp_path: Path) -> None:
    store = tmp_path / "demo-store"
    first = _start(store)
    output = Lines(first.stdout)  # type: ignore[arg-type]
    try:
        output.until(r"examples/client\.py")
        lines = list(output.seen)
        # The URLs are printed once bound; sources (the flags MCP server) start after that.
        output.until(r"Application startup complete")
        tokens = [line.strip() for line in lines if re.fullmatch(r"\s*mcpb_\S+", line)]
        assert len(tokens) == 1, lines
        call = subprocess.run(
            ["bash", "-c", _client_command(lines)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert call.returncode == 0, call.stderr
        assert "get_item" in call.stdout and "AX-1001" in call.stdout
    finally:
        shutdown = _stop(first, output)
    assert any("Application shutdown complete" in line for line in shutdown)

    second = _start(store)
    output = Lines(second.stdout)  # type: ignore[arg-type]
    try:
        output.until(r"examples/client\.py")
        lines = list(output.seen)
        # The URLs are printed once bound; sources (the flags MCP server) start after that.
        output.until(r"Application startup complete")
        assert not any(re.fullmatch(r"\s*mcpb_\S+", line) for line in lines), (
            "minted a second token"
        )
        assert any("minted on first run" in line for line in lines)
        call = subprocess.run(
            ["bash", "-c", _client_command(lines)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert call.returncode == 0, call.stderr
        assert "AX-1001" in call.stdout
    finally:
        _stop(second, output)
