"""benchmarks/replicas.py runs end to end in quick mode and prints its rows with numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "replicas.py"
_NUMBER = r"[-+]?[\d,]+(?:\.\d+)?"
ROWS = [
    "calls/s, 2 replicas vs 1 (one PostgreSQL store)",
    "same: p50 ms, 2 replicas vs 1",
    "same: server CPU µs/call (both replicas) vs 1",
    "revoked token refused by both replicas",
    "verify a valid token, µs",
    "verify an unknown key id, µs",
]


def test_a_quick_run_prints_every_row(tmp_path: Path, postgres_url: str) -> None:
    env = {**os.environ, "MCP_VAULT_DATABASE_URL": postgres_url}
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for name in ROWS:
        [found] = [line for line in table if name in line]
        cells = [cell.strip() for cell in found.strip("|").split("|")]
        assert re.fullmatch(_NUMBER, cells[1]), found
    assert list(tmp_path.iterdir()) == []
