"""The benchmark runs end to end in quick mode and prints every row with numbers (never timed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
_NUMBER = r"[-+]?[\d,]+(?:\.\d+)?"
ROWS = [
    *(
        f"echo, {transport}, c={c}: {measure}"
        for c in (1, 8)
        for transport in (
            "SSE (handshake era)",
            "Streamable HTTP, handshake era",
            "Streamable HTTP 2026-07-28",
        )
        for measure in ("calls/s", "p50 ms", "server CPU µs/call")
    ),
    *(
        f"{tool} via the bridge vs {baseline}, c={c}: calls/s"
        for c in (1, 8)
        for tool in ("stdio MCP tool", "OpenAPI tool")
        for baseline in ("direct", "a bare MCPServer proxy")
    ),
    *(f"stdio MCP tool via the bridge vs a raw proxy, c={c}: calls/s" for c in (1, 8)),
    "idle SSE sessions: KiB each",
    "idle /mcp (handshake era) sessions: KiB each",
    "verify a valid token, µs",
    "verify an unknown key id, µs",
]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARK), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        check=False,
    )


def test_a_quick_run_prints_every_row_with_bridge_and_baseline_figures(tmp_path: Path) -> None:
    user_store = Path(os.environ["MCP_VAULT_DIR"])

    result = _run("--quick", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for name in ROWS:
        found = [line for line in table if name in line]
        assert len(found) == 1, f"no row {name!r} in:\n{result.stdout}"
        cells = [cell.strip() for cell in found[0].strip("|").split("|")]
        assert re.fullmatch(_NUMBER, cells[1]) and re.fullmatch(_NUMBER, cells[2]), found[0]
        assert re.match(_NUMBER, cells[4]), found[0]
    revoked = [line for line in table if "revoked token refused" in line]
    assert len(revoked) == 1 and re.fullmatch(_NUMBER, revoked[0].split("|")[2].strip())
    assert "load average before/after" in result.stdout
    # Its vault, config and logs live in a temporary directory of their own.
    assert not user_store.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_bad_option_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = _run("--calls", "0", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "--calls" in result.stderr
