"""Several real processes on one store at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.vaults._vault import consistent, run_cli, subprocess_env
from vaults import Store

pytestmark = pytest.mark.usefixtures("engine")  # each test on SQLite and on PostgreSQL

_WRITER = """
import sys, time
from pathlib import Path
from vaults import Store
go, prefix = Path(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 20
while not go.exists():
    assert time.monotonic() < deadline
with Store.open() as store:
    for i in range(100):
        store.add_secret(f"{prefix}-{i}", f"value-{prefix}-{i}")
"""

_ROTATOR = """
import sys
from vaults import Store, rotate
with Store.open() as store:
    for _ in range(15):
        sys.stdin.readline()  # the reader says go: it verifies while this rotation runs
        print(rotate(store, "agents", grace=3600).value, flush=True)
"""


def _spawn(script: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


def test_two_processes_writing_100_secrets_each_lose_none(tmp_path: Path) -> None:
    with Store.open() as store:
        store.init()
    go = tmp_path / "go"
    writers = [_spawn(_WRITER, str(go), prefix) for prefix in ("a", "b")]
    go.touch()
    for writer in writers:
        with writer:
            _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
    with Store.open() as store:
        names = {info.name for info in store.list()}
        assert len(names) == 200
        for prefix in ("a", "b"):
            for i in range(100):
                assert store.secret(f"{prefix}-{i}") == f"value-{prefix}-{i}"


def test_two_rotations_started_together_never_both_run() -> None:
    with Store.open() as store:
        store.add_token("agents")
    with subprocess.Popen(
        [sys.executable, "-m", "vaults.cli", "rotate", "agents"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(),
    ) as first:  # fmt: skip
        second = run_cli("rotate", "agents")
        _, err = first.communicate(timeout=30)
    outcomes = [(first.returncode, err), (second.returncode, second.stderr)]
    assert any(code == 0 for code, _ in outcomes), outcomes
    for code, text in outcomes:
        assert code == 0 or (code == 1 and "already in progress" in text), outcomes
    with Store.open() as store:
        consistent(store, "agents")
        info = store.show("agents")
        assert info.rotation is None
        assert info.current.version == 1 + sum(code == 0 for code, _ in outcomes)  # type: ignore[union-attr]


def test_a_reader_verifying_during_rotations_is_never_refused_a_valid_token() -> None:
    with Store.open() as store:
        valid = [store.add_token("agents").token]
        verifier = store.token_index()
    checks = 0
    deadline = time.monotonic() + 60
    with _spawn(_ROTATOR, stdin=subprocess.PIPE) as rotator:
        assert rotator.stdin is not None and rotator.stdout is not None
        for _ in range(15):
            rotator.stdin.write("go\n")
            rotator.stdin.flush()
            # While the next rotation runs, the newest token stays valid (current, then previous).
            for _ in range(50):
                assert verifier.verify(valid[-1]) is not None, f"refused version {len(valid)}"
                checks += 1
            valid.append(rotator.stdout.readline().strip())
            assert verifier.verify(valid[-1]) is not None and verifier.verify(valid[-2])
            if len(valid) > 2:  # the rotation just done ended the grace of the one before
                assert verifier.verify(valid[-3]) is None, f"accepted version {len(valid) - 2}"
            assert time.monotonic() < deadline
        rotator.stdin.close()
        err = rotator.stderr.read() if rotator.stderr else ""
    assert rotator.returncode == 0, err
    assert len(valid) == 16 and checks == 15 * 50
    verifier.close()
