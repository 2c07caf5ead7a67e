"""A real SIGKILL right after each rotation step, then a rerun that finishes the job."""

from __future__ import annotations

import signal

import pytest

from tests.vaults._vault import accepted_with_value, consistent, run_cli
from vaults import Store, tokens

pytestmark = pytest.mark.usefixtures("engine")  # each test on SQLite and on PostgreSQL


def _killed_after(point: str, *args: str, input: str | None = None) -> None:
    done = run_cli("rotate", *args, input=input, MCP_VAULT_CRASH_AFTER=point)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)


@pytest.mark.parametrize("point", ["start", "create", "push", "test", "finish"])
def test_a_rotation_killed_after_each_step_is_finished_by_resume(point: str) -> None:
    with Store.open() as store:
        first = store.add_token("agents")
    _killed_after(point, "agents", "--grace", "1h")
    with Store.open() as store:
        consistent(store, "agents")
        assert accepted_with_value(store, "agents"), "no accepted token left in the keyring"
        assert store.token_index().verify(first.token) is not None
        journal = store.show("agents").rotation
        assert (journal is None) == (point == "finish")
    resumed = run_cli("rotate", "agents", "--resume")
    if point == "finish":
        assert resumed.returncode == 1 and "nothing to resume" in resumed.stderr
        assert "made v2 current" in resumed.stderr and "get agents --reveal" in resumed.stderr
    else:
        assert resumed.returncode == 0, resumed.stderr
        assert "finished the interrupted rotation" in resumed.stderr
    with Store.open() as store:
        consistent(store, "agents")
        info = store.show("agents")
        assert info.rotation is None and info.current is not None and info.current.version == 2
        current = store.reveal("agents")
        verifier = store.token_index()
        assert verifier.verify(current) is not None
        assert verifier.verify(first.token) is not None  # the grace window is an hour
        assert accepted_with_value(store, "agents") == [2]
        if point != "finish":
            assert resumed.stdout.splitlines()[-1] == current


def test_the_next_plain_rotate_finishes_a_killed_rotation_and_prints_its_token() -> None:
    with Store.open() as store:
        store.add_token("agents")
    _killed_after("push", "agents")
    with Store.open() as store:
        pending = store.show("agents").pending
        assert pending is not None
    again = run_cli("rotate", "agents")
    assert again.returncode == 0, again.stderr
    token = again.stdout.splitlines()[-1]
    parsed = tokens.parse(token)
    assert parsed is not None and parsed.kid == pending.kid
    with Store.open() as store:
        assert store.reveal("agents") == token


def test_a_killed_secret_rotation_keeps_its_new_value() -> None:
    with Store.open() as store:
        store.add_secret("crm", "old-value")
    _killed_after("create", "crm", input="new-value\n")
    with Store.open() as store:
        assert store.secret("crm") == "old-value"
    resumed = run_cli("rotate", "crm", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    with Store.open() as store:
        assert store.secret("crm") == "new-value"
        consistent(store, "crm")
