"""benchmarks/reliability.py runs end to end in quick mode, and what it measured holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "reliability.py"


def test_a_quick_run_measures_every_part_and_all_of_it_holds(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = json.loads(out.read_text())
    load = found["under_load"]
    assert load["calls"] > 100 and load["failed"] == 0, load
    assert load["live_tokens"] == 2, load  # current + previous, however many rotations
    steps = [row["step"] for row in found["killed"]]
    assert steps == ["start", "create", "push", "test", "finish"]
    assert all(row["killed"] and row["both_accept"] and row["recovered"] for row in found["killed"])
    assert all(row["failed"] == 0 and row["calls"] > 0 for row in found["killed"])
    assert found["refusals"] and all(r["calls_s"] <= 1 for r in found["refusals"])
    assert all(r["streams_s"] is not None and r["streams_s"] <= 1 for r in found["refusals"])
    bad = found["bad"]
    assert len(bad) >= 20 and [b["what"] for b in bad if not b["held"]] == []
    assert found["leaks"]["values"] >= 10 and found["leaks"]["found"] == []
    assert found["held"] is True
    for heading in ("### 1.", "### 2.", "### 3.", "### 4.", "### 5.", "all held"):
        assert heading in result.stdout
