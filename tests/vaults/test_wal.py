"""A damaged ``index.db-wal`` is reported, never read quietly as an older state."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.wal import damage_a_middle_commit, flip, frames
from tests.vaults._vault import run_cli
from vaults import Store, StoreError
from vaults.index import wal

_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
print("ready", flush=True)
sys.stdin.read()
"""


@contextmanager
def _held(index: Path) -> Iterator[None]:
    """Another process keeps the index open (as a running bridge does), then dies by SIGKILL:
    nobody checkpoints the WAL, and the next opener recovers it from the file."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(index)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as holder:  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
            yield
        finally:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(10)


def _store_with_history() -> tuple[Path, list[str]]:
    with Store.open() as store:
        store.init()
        index = store.index.path
    names = [f"t{i}" for i in range(6)]
    with _held(index):
        for name in names:
            assert run_cli("add", name, "--kind", "token").returncode == 0
    return index, names


def test_a_flipped_byte_in_the_wal_is_refused_saying_what_is_lost() -> None:
    index, _ = _store_with_history()
    middle, commits = damage_a_middle_commit(index)

    done = run_cli("list", "--json")

    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert "index.db-wal" in line and "frames" in line and "transactions" in line
    assert "backup" in line and "--accept-wal-loss" in line
    damage = wal.check(index)
    assert damage is not None and damage.transactions == commits - middle
    assert wal.wal_path(index).exists()  # the evidence is left as it was


def test_a_damaged_wal_can_be_accepted_explicitly_and_is_audited() -> None:
    index, names = _store_with_history()
    last_two = [offset for offset, commit in frames(index) if commit][-2]
    flip(index, last_two + 24 + 7)

    done = run_cli("doctor", "--accept-wal-loss")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted the loss" in done.stderr
    listed = run_cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    kept = [info["name"] for info in json.loads(listed.stdout)]
    assert kept and kept == names[: len(kept)] and len(kept) < len(names)
    audit = json.loads(run_cli("audit", "--json").stdout)
    assert [row["action"] for row in audit if row["action"] == "index.wal-loss"] == [
        "index.wal-loss"
    ]


def test_leftovers_of_a_checkpoint_and_of_uncommitted_writes_are_not_damage(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("CREATE TABLE t (x)")
    writer = sqlite3.connect(path, isolation_level=None)
    for _ in range(20):
        writer.execute("INSERT INTO t VALUES (?)", (os.urandom(3000),))
    assert wal.check(path) is None
    holder.execute("PRAGMA wal_checkpoint(PASSIVE)")
    writer.execute("INSERT INTO t VALUES (1)")  # restarts the log: old frames, other salt
    assert wal.check(path) is None
    writer.execute("PRAGMA cache_size = 2")
    writer.execute("BEGIN")
    writer.execute("INSERT INTO t SELECT x FROM t")  # spills frames into the log, then rolled back
    writer.execute("ROLLBACK")
    writer.execute("INSERT INTO t VALUES (2)")
    assert wal.check(path) is None
    holder.close()
    writer.close()


def test_a_damaged_wal_is_a_store_error_for_the_library_too() -> None:
    index, _ = _store_with_history()
    flip(index, frames(index)[2][0] + 24 + 1)
    with pytest.raises(StoreError, match="transactions"):
        Store.open(create=False)
