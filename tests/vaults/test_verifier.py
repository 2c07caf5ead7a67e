from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.vaults._vault import ROOT, run_cli, subprocess_env
from vaults import Store, StoreError, TokenIndex, rotate, tokens


def _until(predicate: Callable[[], bool], timeout: float) -> float:
    """Poll ``predicate`` until true; the seconds it took (fails after ``timeout``)."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not reached in time"
    return time.monotonic() - start


def test_verify_returns_the_principal_of_a_valid_token(store: Store) -> None:
    minted = store.add_token("agents", scopes=["inv_*"])
    with store.token_index() as verifier:
        principal = verifier.verify(minted.token)
    assert principal is not None
    assert (principal.name, principal.kid, principal.version, principal.scopes) == (
        "agents", minted.kid, 1, ("inv_*",),
    )  # fmt: skip


def test_wrong_malformed_and_unknown_tokens_are_rejected(store: Store) -> None:
    minted = store.add_token("agents")
    parsed = tokens.parse(minted.token)
    assert parsed is not None
    forged = tokens.generate(kid=parsed.kid)  # right kid, wrong secret, valid checksum
    with store.token_index() as verifier:
        assert verifier.verify(forged) is None
        assert verifier.verify(tokens.generate()) is None
        assert verifier.verify(minted.token[:-2]) is None
        assert verifier.verify("Bearer " + minted.token) is None
        assert verifier.verify("") is None


def test_accepted_restricts_to_the_named_credentials(store: Store) -> None:
    agents = store.add_token("agents")
    other = store.add_token("other")
    store.add_secret("crm", "v")
    with store.token_index(accepted=["agents", "crm"]) as verifier:
        assert verifier.verify(agents.token) is not None
        assert verifier.verify(other.token) is None
        assert len(verifier) == 1


def test_a_revoke_in_another_process_is_seen_within_a_second(store: Store) -> None:
    minted = store.add_token("agents")
    with store.token_index() as verifier:
        assert verifier.verify(minted.token) is not None
        done = run_cli("revoke", "agents")
        assert done.returncode == 0, done.stderr
        took = _until(lambda: verifier.verify(minted.token) is None, timeout=1.0)
    assert took < 1.0


@pytest.mark.sqlite_only  # PostgreSQL pushes each change: see test_postgres.py
def test_changes_to_known_tokens_are_checked_at_most_every_interval(store: Store) -> None:
    minted = store.add_token("agents")
    with store.token_index(check_interval=3600) as verifier:
        assert verifier.verify(minted.token) is not None
        with Store.open() as other:
            other.revoke("agents")
        assert verifier.verify(minted.token) is not None  # not looked at yet
        verifier.refresh()
        assert verifier.verify(minted.token) is None


def test_a_new_token_is_accepted_at_once_even_between_checks(store: Store) -> None:
    store.add_token("first")
    with store.token_index(check_interval=3600) as verifier:
        minted = store.add_token("second")
        assert verifier.verify(minted.token) is not None


@pytest.mark.sqlite_only  # on PostgreSQL the new token arrives by NOTIFY, whatever the budget
def test_unknown_key_ids_are_rate_limited(store: Store) -> None:
    store.add_token("first")
    with store.token_index(check_interval=3600, miss_interval=3600) as verifier:
        assert verifier.verify(tokens.generate()) is None  # uses up the miss budget
        minted = store.add_token("second")
        assert verifier.verify(minted.token) is None
        verifier.refresh()
        assert verifier.verify(minted.token) is not None


@pytest.mark.sqlite_only  # PostgreSQL's misses are rate-limited; its new tokens come by NOTIFY
def test_a_new_token_is_accepted_at_once_right_after_unknown_key_ids(store: Store) -> None:
    store.add_token("first")
    with store.token_index(check_interval=3600) as verifier:
        for _ in range(100):
            assert verifier.verify(tokens.generate()) is None
        minted = store.add_token("second")
        assert verifier.verify(minted.token) is not None


@pytest.mark.sqlite_only
def test_a_token_minted_in_another_process_is_accepted_at_once_between_checks(
    store: Store,
) -> None:
    store.add_token("first")
    with store.token_index(check_interval=3600) as verifier:
        assert verifier.verify(tokens.generate()) is None
        done = run_cli("add", "second", "--kind", "token")
        assert done.returncode == 0, done.stderr
        assert verifier.verify(done.stdout.strip().splitlines()[-1]) is not None


def test_the_pending_token_is_accepted_as_soon_as_it_is_created(store: Store) -> None:
    store.add_token("agents")
    seen: dict[str, object] = {}
    with store.token_index(check_interval=3600) as verifier:

        def tester(name: str, value: str) -> None:
            seen["principal"] = verifier.verify(value)

        rotate(store, "agents", tester=tester)
    principal = seen["principal"]
    assert principal is not None and principal.version == 2  # type: ignore[attr-defined]


def test_verify_is_thread_safe_while_the_index_changes(store: Store) -> None:
    minted = store.add_token("agents")
    errors: list[BaseException] = []
    stop = threading.Event()
    verifier = store.token_index(check_interval=0)

    def reader() -> None:
        try:
            while not stop.is_set():
                assert verifier.verify(minted.token) is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    with Store.open() as writer:
        for i in range(20):
            writer.add_token(f"t{i}")
    stop.set()
    for thread in threads:
        thread.join(10)
    verifier.close()
    assert errors == []
    with store.token_index() as fresh:
        assert len(fresh) == 21


def test_a_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="mcp-vault init"):
        TokenIndex(tmp_path / "index.db")


def test_verify_costs_microseconds_whatever_the_number_of_tokens() -> None:
    """benchmarks/verify.py, short: a linear scan or a reread per miss would show at 10,000."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "verify.py"), "--rounds", "20000"],
        capture_output=True, text=True, env=subprocess_env(), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = {
        int(count.replace(",", "")): (float(valid.replace(",", "")), float(miss.replace(",", "")))
        for count, valid, miss in re.findall(
            r"^\s*([\d,]+) tokens: ([\d,]+) ns per verify of a valid token, ([\d,]+) ns for an "
            r"unknown key id$",
            done.stdout,
            re.MULTILINE,
        )
    }
    assert set(figures) == {10, 10_000}, done.stdout
    for valid, miss in figures.values():
        assert 0 < valid < 200_000 and 0 < miss < 200_000, done.stdout
    # Generous bounds for a busy machine; the cost of an O(n) step at 10,000 would be ~1000x.
    assert figures[10_000][0] < 5 * figures[10][0] + 20_000, done.stdout
    assert figures[10_000][1] < 5 * figures[10][1] + 20_000, done.stdout
