"""The echo-latency benchmark runs end to end on a few calls and reports both servers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "echo_latency.py"
TRANSPORTS = ("http legacy", "http 2026-07-28", "sse legacy")
_NUMBER = r"(-?[\d,]+(?:\.\d+)?)"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARK), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def test_a_small_run_prints_a_bridge_and_a_bare_row_per_transport(tmp_path: Path) -> None:
    result = _run("--calls", "5", "--rounds", "1", "--warmup", "2", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for transport in TRANSPORTS:
        for server in ("bridge", "bare"):
            row = re.search(
                rf"^{re.escape(transport)}\s+{server}\s+1" + rf"\s+{_NUMBER}" * 6 + r"$",
                result.stdout,
                re.MULTILINE,
            )
            assert row is not None, f"no {server} row for {transport}:\n{result.stdout}"
            p50, p90, p99, rate, server_cpu, _ = (float(v.replace(",", "")) for v in row.groups())
            assert 0 < p50 <= p90 <= p99
            assert rate > 0 and server_cpu > 0
    assert result.stdout.count("bridge overhead") == len(TRANSPORTS)


def test_the_benchmark_keeps_to_its_own_throwaway_vault(tmp_path: Path) -> None:
    user_store = Path(os.environ["MCP_VAULT_DIR"])

    result = _run("--calls", "1", "--rounds", "1", "--warmup", "0", "--transport", "sse-legacy",
                  cwd=tmp_path)  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert not user_store.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_bad_option_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = _run("--calls", "0", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "--calls" in result.stderr
