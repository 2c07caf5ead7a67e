from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.vaults._vault import accepted_with_value, consistent, run_cli
from vaults import Link, PushError, RotationError, RotationInProgressError, Store, UsageError, links
from vaults.index import LIVE_STATES
from vaults.rotation import register_pusher, rotate, rotate_due, unregister_pusher


class _Interrupted(Exception):
    """Stands for a crash at a step boundary."""


def _crash_at(point: str) -> Callable[[str], None]:
    def checkpoint(step: str) -> None:
        if step == point:
            raise _Interrupted(step)

    return checkpoint


class _RecordingPusher:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.pushed: list[tuple[str, str]] = []

    def push(self, link: Link, value: str) -> None:
        if self.fail:
            raise PushError(f"remote {link.vault_id} said 503")
        self.pushed.append((link.vault_id, value))


@pytest.fixture
def pusher() -> Iterator[_RecordingPusher]:
    recording = _RecordingPusher()
    register_pusher("test-remote", recording)
    yield recording
    unregister_pusher("test-remote")


def test_rotate_makes_a_new_current_and_keeps_the_old_for_the_grace(store: Store) -> None:
    old = store.add_token("agents", scopes=["a*"])
    result = rotate(store, "agents", grace=3600)
    assert (result.from_version, result.version, result.resumed) == (1, 2, False)
    assert result.token == result.value and result.value != old.token
    info = store.show("agents")
    assert [(v.version, v.state) for v in info.versions] == [(2, "current"), (1, "previous")]
    assert info.versions[1].not_after is not None and info.rotation is None
    verifier = store.token_index()
    assert verifier.verify(old.token) is not None
    new = verifier.verify(result.value)
    assert new is not None and new.version == 2 and new.scopes == ("a*",)
    assert store.reveal("agents") == result.value
    # The old value is no longer needed in the keyring: the verifier only keeps hashes.
    assert store.backend.get(store.service, "agents@1") is None


def test_grace_zero_rejects_the_old_token_at_once(store: Store) -> None:
    old = store.add_token("agents")
    result = rotate(store, "agents", grace=0)
    verifier = store.token_index()
    assert verifier.verify(old.token) is None
    assert verifier.verify(result.value) is not None
    assert store.show("agents").versions[1].state == "retired"


def test_an_expired_previous_is_rejected_and_retired_by_the_next_rotation(store: Store) -> None:
    old = store.add_token("agents")
    rotate(store, "agents", grace=0.5)
    verifier = store.token_index()
    assert verifier.verify(old.token) is not None
    deadline = time.monotonic() + 5
    while verifier.verify(old.token) is not None and time.monotonic() < deadline:
        pass  # the grace window itself must pass; verify is the condition polled
    assert verifier.verify(old.token) is None
    rotate(store, "agents", grace=3600)
    states = {v.version: v.state for v in store.show("agents").versions}
    assert states == {3: "current", 2: "previous", 1: "retired"}


def test_rotating_a_secret_stores_the_new_value(store: Store) -> None:
    store.add_secret("crm", "one")
    with pytest.raises(UsageError, match="new value on stdin"):
        rotate(store, "crm")
    assert store.show("crm").rotation is None
    result = rotate(store, "crm", value="two")
    assert result.token is None and result.kid is None
    assert store.secret("crm") == "two"


def test_the_new_value_is_pushed_to_every_link_before_it_becomes_current(
    store: Store, pusher: _RecordingPusher
) -> None:
    store.add_token("agents")
    for vault in ("vlt_a", "vlt_b"):
        links.add(store, "agents", kind="test-remote", vault_id=vault, url="https://b/mcp")
    result = rotate(store, "agents")
    assert pusher.pushed == [("vlt_a", result.value), ("vlt_b", result.value)]
    assert [link.pushed_version for link in store.links("agents")] == [2, 2]


def test_a_failed_push_leaves_a_resumable_rotation_with_both_tokens_valid(
    store: Store, pusher: _RecordingPusher
) -> None:
    old = store.add_token("agents")
    links.add(store, "agents", kind="test-remote", vault_id="vlt_a", url="https://b/mcp")
    pusher.fail = True
    with pytest.raises(PushError, match="--resume") as caught:
        rotate(store, "agents")
    info = store.show("agents")
    assert info.rotation is not None and info.rotation.step == "push"
    pending = info.pending
    assert pending is not None
    new_value = store.backend.get(store.service, f"agents@{pending.version}")
    assert new_value is not None and new_value not in str(caught.value)
    verifier = store.token_index()
    assert verifier.verify(old.token) is not None
    assert verifier.verify(new_value) is not None
    assert [row.outcome for row in store.audit() if row.action == "rotate.push"] == ["failed"]
    pusher.fail = False
    result = rotate(store, "agents", resume=True)
    assert result.resumed and result.value == new_value
    assert pusher.pushed == [("vlt_a", new_value)]
    consistent(store, "agents")


def test_a_link_of_an_unknown_kind_blocks_the_push_with_a_clear_message(store: Store) -> None:
    store.add_token("agents")
    links.add(store, "agents", kind="nowhere", vault_id="vlt_a", url="https://b/mcp")
    with pytest.raises(PushError, match="no pusher is registered"):
        rotate(store, "agents")
    assert accepted_with_value(store, "agents") == [2, 1]


def test_a_failing_tester_stops_before_finish(store: Store) -> None:
    store.add_token("agents")
    seen: list[str] = []

    def tester(name: str, value: str) -> None:
        seen.append(value)
        raise ConnectionError("bridge did not answer")

    with pytest.raises(RotationError, match="ConnectionError"):
        rotate(store, "agents", tester=tester)
    assert store.show("agents").rotation.step == "test"  # type: ignore[union-attr]
    failed = [row for row in store.audit() if row.outcome == "failed"]
    assert [(row.action, row.detail) for row in failed] == [("rotate.test", "ConnectionError")]
    result = rotate(store, "agents", resume=True, tester=lambda name, value: None)
    assert result.value == seen[0]
    assert store.show("agents").current.version == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("point", ["start", "create", "push", "test"])
def test_an_interrupted_rotation_is_finished_by_resume(store: Store, point: str) -> None:
    store.add_token("agents")
    with pytest.raises(_Interrupted):
        rotate(store, "agents", grace=3600, checkpoint=_crash_at(point))
    consistent(store, "agents")
    assert accepted_with_value(store, "agents")
    result = rotate(store, "agents", resume=True)
    assert result.resumed and result.version == 2
    consistent(store, "agents")
    assert store.show("agents").rotation is None
    assert store.token_index().verify(result.value) is not None


def test_the_next_plain_rotate_resumes_a_stale_rotation(store: Store) -> None:
    store.add_token("agents")
    with pytest.raises(_Interrupted):
        rotate(store, "agents", checkpoint=_crash_at("push"))
    pending = store.show("agents").pending
    assert pending is not None
    result = rotate(store, "agents")
    assert result.resumed and result.version == pending.version
    assert result.kid == pending.kid


def test_resume_with_nothing_to_resume_says_so(store: Store) -> None:
    store.add_token("agents")
    with pytest.raises(RotationError, match="nothing to resume"):
        rotate(store, "agents", resume=True)


def test_a_second_rotation_while_one_runs_is_refused(store: Store) -> None:
    store.add_token("agents")
    entered, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def slow_tester(name: str, value: str) -> None:
        entered.set()
        release.wait(10)

    def first() -> None:
        outcome["result"] = rotate(store, "agents", tester=slow_tester)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert entered.wait(10)
        with pytest.raises(RotationInProgressError, match="already in progress") as caught:
            rotate(store, "agents")
        assert "--resume" in str(caught.value)
        with pytest.raises(RotationInProgressError):
            rotate(store, "agents", resume=True)
        # Another process is refused too, and says so on one stderr line.
        other = run_cli("rotate", "agents")
        assert other.returncode == 1
        assert other.stderr.count("\n") == 1 and "already in progress" in other.stderr
    finally:
        release.set()
        thread.join(10)
    assert outcome["result"].version == 2  # type: ignore[attr-defined]
    consistent(store, "agents")


def test_revoking_during_a_rotation_cancels_it(store: Store) -> None:
    store.add_token("agents")
    with pytest.raises(_Interrupted):
        rotate(store, "agents", checkpoint=_crash_at("create"))
    assert store.revoke("agents") == [2, 1]
    info = store.show("agents")
    assert info.rotation is None and {v.state for v in info.versions} == {"revoked"}
    result = rotate(store, "agents", grace=0)
    assert result.from_version is None and result.version == 3
    assert store.token_index().verify(result.value) is not None


def test_rotate_due_rotates_only_tokens_past_their_period(store: Store) -> None:
    store.add_token("daily", rotate_every=86400)
    store.add_token("never")
    store.add_secret("crm", "v")
    assert rotate_due(store) == []
    later = store.show("daily").created_at.timestamp() + 86400
    results = rotate_due(store, now=later)
    assert [(r.name, r.version) for r in results] == [("daily", 2)]
    assert store.show("never").current.version == 1  # type: ignore[union-attr]


@pytest.mark.sqlite_only  # PostgreSQL's lock tells: see test_postgres.py
def test_a_rotation_owned_by_another_host_needs_an_explicit_resume(store: Store) -> None:
    store.add_token("agents")
    with pytest.raises(_Interrupted):
        rotate(store, "agents", checkpoint=_crash_at("push"))
    store.index.execute("UPDATE rotations SET owner = 'build-host-7:4242'")
    with pytest.raises(RotationInProgressError, match="pid 4242 on build-host-7"):
        rotate(store, "agents")
    assert rotate(store, "agents", resume=True).version == 2


@pytest.mark.sqlite_only
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_reused_pid_does_not_keep_an_interrupted_rotation_locked(store: Store) -> None:
    store.add_token("agents")
    with pytest.raises(_Interrupted):
        rotate(store, "agents", checkpoint=_crash_at("push"))
    # Pretend the owner is our parent process: alive if its start time matches, else its pid was
    # reused after the owner died.
    parent = os.getppid()
    started = Path(f"/proc/{parent}/stat").read_text().rpartition(")")[2].split()[19]
    owner = f"{socket.gethostname()}:{parent}@{started}"
    store.index.execute("UPDATE rotations SET owner = ?", (owner,))
    with pytest.raises(RotationInProgressError, match=f"pid {parent} on"):
        rotate(store, "agents", resume=True)
    store.index.execute("UPDATE rotations SET owner = ?", (f"{owner}0",))
    result = rotate(store, "agents")
    assert result.resumed and result.version == 2
    consistent(store, "agents")


def test_a_rotation_taken_over_elsewhere_leaves_the_new_owners_value_alone(store: Store) -> None:
    store.add_token("agents")

    def taken_over(step: str) -> None:
        # After this process claimed the rotation, another host resumes it and stores its value.
        if step == "start":
            store.index.execute("UPDATE rotations SET owner = 'build-host-7:4242'")
            store.backend.set(store.service, "agents@2", "the-other-hosts-value")

    with pytest.raises(RotationError, match="taken over"):
        rotate(store, "agents", checkpoint=taken_over)
    assert store.backend.get(store.service, "agents@2") == "the-other-hosts-value"


def test_a_token_rotation_refuses_a_given_value(store: Store) -> None:
    store.add_token("agents")
    with pytest.raises(UsageError, match="generated"):
        rotate(store, "agents", value="chosen")
    assert store.show("agents").rotation is None


@pytest.mark.parametrize(
    "grace", [366 * 86400.0, float("inf"), float("nan"), -1.0], ids=["366d", "inf", "nan", "neg"]
)
def test_the_library_bounds_the_grace_window(store: Store, grace: float) -> None:
    store.add_token("agents")
    with pytest.raises(UsageError, match="grace"):
        rotate(store, "agents", grace=grace)
    assert store.show("agents").rotation is None and len(store.show("agents").versions) == 1


def test_resuming_a_journal_with_an_unbounded_grace_keeps_to_the_bound(store: Store) -> None:
    store.add_token("agents")
    with pytest.raises(_Interrupted):
        rotate(store, "agents", checkpoint=_crash_at("push"))
    store.index.execute(
        "UPDATE rotations SET grace = ?", (99999999999 * 86400.0,)
    )  # older mcp-vault
    rotate(store, "agents", resume=True)
    [previous] = [v for v in store.show("agents").versions if v.state == "previous"]
    assert previous.not_after is not None
    assert previous.not_after.timestamp() <= time.time() + 365 * 86400


def test_thirty_quick_rotations_leave_at_most_three_live_versions(store: Store) -> None:
    minted = {1: store.add_token("agents").token}
    for _ in range(30):
        result = rotate(store, "agents", grace=3600)
        minted[result.version] = result.value
        live = [v.version for v in store.show("agents").versions if v.state in LIVE_STATES]
        assert len(live) <= 3, live
    with store.token_index() as verifier:
        accepted = {v for v, token in minted.items() if verifier.verify(token) is not None}
    assert accepted == {31, 30}
    kept = [v for v in minted if store.backend.get(store.service, store.value_key("agents", v))]
    assert kept == [31]  # the verifier keeps hashes: only the current value stays in the keyring


def test_a_new_rotation_ends_the_older_grace_window_and_says_so(store: Store) -> None:
    first = store.add_token("agents").token
    rotate(store, "agents", grace=3600)
    third = rotate(store, "agents", grace=3600)
    assert third.ended == (1,)
    assert store.token_index().verify(first) is None
    assert store.backend.get(store.service, "agents@1") is None
    [row] = [row for row in store.audit() if row.action == "rotate.end-grace"]
    assert (row.version, row.credential) == (1, "agents") and "v3" in (row.detail or "")
    assert rotate(store, "agents", grace=3600).ended == (2,)
