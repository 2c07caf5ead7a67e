"""What only the PostgreSQL engine does: migrations on demand, values encrypted in the database
under a data key every replica needs, changes pushed to verifiers, locks that die with their
holder. The store's contract on both engines is in the other test modules."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.vaults._vault import run_cli
from vaults import (
    KeyringError,
    RotationInProgressError,
    Store,
    StoreError,
    doctor,
    rotate,
    tokens,
)
from vaults.index import schema
from vaults.index.postgres import describe
from vaults.rotation import journal, owning


def _until(predicate: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        time.sleep(0.005)
    return time.monotonic() - start


def _rows(url: str) -> list[tuple[object, ...]]:
    """Every row of every table of the store's schema."""
    with psycopg.connect(url) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        ]
        query = "SELECT * FROM {}"
        return [row for table in tables for row in conn.execute(query.format(table))]  # type: ignore[call-overload]


def test_the_database_holds_hashes_and_ciphertext_never_a_value(postgres_url: str) -> None:
    with Store.open(database_url=postgres_url) as store:
        values = [store.add_token(f"t{i}").token for i in range(2)]
        values.append(rotate(store, "t0", grace=3600).value)
        store.add_secret("crm", "plain-secret-" + "x" * 20)
        values.append("plain-secret-" + "x" * 20)
        assert store.secret("crm") == values[-1]
    dump = repr(_rows(postgres_url)).encode() + b"".join(
        bytes(cell) for row in _rows(postgres_url) for cell in row if isinstance(cell, bytes)
    )
    for value in values:
        assert value.encode() not in dump
        if value.startswith("mcpb_"):
            assert value.split("_")[2].encode() not in dump


def test_a_password_in_the_url_never_shows() -> None:
    url = "postgresql://mcp:hunter2-db-pass@127.0.0.1:1/nowhere"
    assert describe(url) == "postgresql://mcp@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as caught:
        Store.open(database_url=url)
    text = str(caught.value)
    assert "hunter2" not in text and "check that the server runs" in text
    assert "postgresql://mcp@127.0.0.1:1/nowhere" in text


def test_a_url_of_another_scheme_is_a_usage_error() -> None:
    done = run_cli("list", MCP_VAULT_DATABASE_URL="mysql://x/y")
    assert done.returncode == 2 and "must be a postgresql:// URL" in done.stderr


def test_an_empty_database_says_to_run_init(postgres_url: str) -> None:
    done = run_cli("list", MCP_VAULT_DATABASE_URL=postgres_url)
    assert done.returncode == 1 and "run mcp-vault init" in done.stderr
    init = run_cli("init", MCP_VAULT_DATABASE_URL=postgres_url)
    assert init.returncode == 0, init.stderr
    assert "postgresql://" in init.stdout and f"schema v{schema.SCHEMA_VERSION}" in init.stdout
    assert "PostgresKeyring" in init.stdout


_V_NEXT = "CREATE TABLE extra (id INTEGER PRIMARY KEY, at REAL NOT NULL, data BLOB)"


def test_an_older_schema_waits_for_migrate_on_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vaults.cli import main

    with Store.open(database_url=postgres_url) as store:
        store.add_token("agents")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, _V_NEXT))
    with pytest.raises(StoreError, match="run mcp-vault migrate"):
        Store.open(database_url=postgres_url)
    monkeypatch.setenv("MCP_VAULT_DATABASE_URL", postgres_url)
    assert main(["migrate"]) == 0
    old, new = len(schema.MIGRATIONS) - 1, len(schema.MIGRATIONS)
    assert f"schema v{old} -> v{new}" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    with Store.open() as store:
        assert store.index.schema_version == new
        assert [info.name for info in store.list()] == ["agents"]
    with psycopg.connect(postgres_url) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'extra'"
            ).fetchall()
        )
    assert types == {"id": "bigint", "at": "double precision", "data": "bytea"}


def test_an_older_schema_is_upgraded_on_open_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(tmp_path) as store:
        store.add_token("agents")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, _V_NEXT))
    with Store.open(tmp_path) as store:
        assert store.index.upgraded == (len(schema.MIGRATIONS) - 1, len(schema.MIGRATIONS))
        store.index.execute("INSERT INTO extra (at, data) VALUES (?, ?)", (1.5, b"\x00"))


def test_a_replica_needs_the_data_key_of_the_first(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(tmp_path / "first", database_url=postgres_url) as first:
        first.add_secret("crm", "crm-value")
    key = tmp_path / "first" / "secrets.key"
    second = Store.open(tmp_path / "second", database_url=postgres_url)
    with second, pytest.raises(KeyringError, match="this host has no data key"):
        second.secret("crm")
    assert not (tmp_path / "second" / "secrets.key").exists()  # no key made beside a store
    other = tmp_path / "other.key"
    other.write_bytes(b"\x01" * 32)
    monkeypatch.setenv("MCP_VAULT_DATA_KEY", str(other))
    second = Store.open(tmp_path / "second", database_url=postgres_url)
    with second, pytest.raises(KeyringError, match="does not match"):
        second.secret("crm")
    monkeypatch.setenv("MCP_VAULT_DATA_KEY", str(key))
    with Store.open(tmp_path / "second", database_url=postgres_url) as second:
        assert second.secret("crm") == "crm-value"
        assert str(key) in second.backend.description


def test_the_data_key_can_be_kept_in_the_os_keyring(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_VAULT_DATA_KEY", "keyring")
    keyring_dir = tmp_path / "keyring"
    monkeypatch.setenv("MCP_VAULT_DIR", str(keyring_dir))  # where the test's keyring keeps it
    with Store.open(database_url=postgres_url) as store:
        store.add_secret("crm", "crm-value")
        assert "the OS keyring" in store.backend.description
    with Store.open(database_url=postgres_url) as again:
        assert again.secret("crm") == "crm-value"
    monkeypatch.delenv("MCP_VAULT_DATA_KEY")
    elsewhere = Store.open(tmp_path / "elsewhere", database_url=postgres_url)
    with elsewhere, pytest.raises(KeyringError, match="no data key"):
        elsewhere.secret("crm")


def test_a_revocation_elsewhere_is_pushed_to_the_verifier(postgres_url: str) -> None:
    with Store.open(database_url=postgres_url) as store:
        minted = store.add_token("agents")
        # No check on its own: only a notification can make it drop the token.
        with store.token_index(check_interval=3600, miss_interval=3600) as verifier:
            assert verifier.verify(minted.token) is not None
            done = run_cli("revoke", "agents", MCP_VAULT_DATABASE_URL=postgres_url)
            assert done.returncode == 0, done.stderr
            took = _until(lambda: verifier.verify(minted.token) is None, timeout=1.0)
    assert took < 1.0


def test_a_token_minted_elsewhere_is_accepted_at_once(postgres_url: str) -> None:
    with Store.open(database_url=postgres_url) as store:
        store.add_token("first")
        with store.token_index(check_interval=3600) as verifier:
            with Store.open(database_url=postgres_url) as other:
                minted = other.add_token("second")
            assert verifier.verify(minted.token) is not None  # the miss asks the database
            assert verifier.verify(tokens.generate()) is None


def test_a_miss_that_finds_a_newer_revision_reloads_at_once_in_the_callers_thread(
    postgres_url: str,
) -> None:
    # A token committed without a notification (the listener has not heard of it yet): the
    # miss reads the newer revision and reloads in the thread that verifies, which holds the
    # verifier's lock; the listener's callback (which takes that lock too) must not run there.
    token = tokens.generate()
    parsed = tokens.parse(token)
    assert parsed is not None
    with Store.open(database_url=postgres_url) as store:
        store.add_token("first")
        verifier = store.token_index(check_interval=3600, miss_interval=0)
    verifier._changes.reconcile_interval = 3600  # type: ignore[attr-defined]
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # no NOTIFY
            now = time.time()
            row = conn.execute(
                "INSERT INTO credentials (name, kind, scopes, created_at, updated_at) "
                "VALUES ('second', 'token', '[]', %s, %s) RETURNING id",
                (now, now),
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO versions (credential_id, version, state, kid, hash, created_at) "
                "VALUES (%s, 1, 'current', %s, %s, %s)",
                (row[0], parsed.kid, tokens.hash_secret(parsed.secret), now),
            )
            conn.execute("UPDATE meta SET value = '999' WHERE key = 'revision'")
        found: list[object] = []
        worker = threading.Thread(target=lambda: found.append(verifier.verify(token)), daemon=True)
        worker.start()
        worker.join(5.0)
        assert not worker.is_alive(), "verify deadlocked on its own lock"
        assert found and found[0] is not None
    finally:
        verifier.close()


def test_a_change_made_by_hand_is_reconciled(postgres_url: str) -> None:
    with Store.open(database_url=postgres_url) as store:
        minted = store.add_token("agents")
        verifier = store.token_index(check_interval=3600, miss_interval=3600)
    verifier._changes.reconcile_interval = 0.1  # type: ignore[attr-defined]
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # no NOTIFY
            conn.execute("UPDATE versions SET state = 'revoked'")
            conn.execute("UPDATE meta SET value = '999' WHERE key = 'revision'")
        _until(lambda: verifier.verify(minted.token) is None, timeout=3.0)
    finally:
        verifier.close()


def test_the_listener_comes_back_after_its_session_is_killed(postgres_url: str) -> None:
    with Store.open(database_url=postgres_url) as store:
        minted = store.add_token("agents")
        with store.token_index(check_interval=3600, miss_interval=3600) as verifier:
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'mcp-vault-listener'"
                ).fetchall()
            assert killed
            store.revoke("agents")
            _until(lambda: verifier.verify(minted.token) is None, timeout=5.0)


def test_the_owner_of_a_rotation_holds_it_until_its_session_ends(postgres_url: str) -> None:
    with Store.open(database_url=postgres_url) as store:
        store.add_token("agents")
        with pytest.raises(RuntimeError):
            rotate(store, "agents", checkpoint=_fail_after("push"))
        # The journal names a process on another host; that process's session still holds the
        # credential (another replica, alive): every host is refused, even with --resume.
        store.index.execute("UPDATE rotations SET owner = 'build-host-7:4242'")
        with Store.open(database_url=postgres_url) as replica:
            hold = journal.hold(replica, "agents")
            assert hold is not None and hold.exclusive
            with pytest.raises(RotationInProgressError, match="pid 4242 on build-host-7"):
                rotate(store, "agents", resume=True)
            [check] = [c for c in doctor.store_checks(store) if c.name == "rotations"]
            assert check.ok and "in progress: agents" in check.detail
            hold.release()  # that replica died: its session, and so its lock, is gone
        [check] = [c for c in doctor.store_checks(store) if c.name == "rotations"]
        assert not check.ok and "--resume" in check.detail
        result = rotate(store, "agents")  # no --resume needed: the lock proves the owner gone
        assert result.resumed and result.version == 2
        resumed = [row for row in store.audit() if row.action == "rotate.resume"]
        assert resumed[-1].detail == "at step test, from build-host-7:4242"


def test_a_rotation_or_push_is_refused_while_another_process_holds_the_credential(
    postgres_url: str,
) -> None:
    with Store.open(database_url=postgres_url) as store:
        store.add_token("agents")
        with Store.open(database_url=postgres_url) as replica, owning(replica, "agents"):
            with pytest.raises(RotationInProgressError, match="already in progress"):
                rotate(store, "agents")
            with pytest.raises(RotationInProgressError), owning(store, "agents"):
                pass
        assert rotate(store, "agents").version == 2


def _fail_after(point: str) -> Callable[[str], None]:
    def checkpoint(step: str) -> None:
        if step == point:
            raise RuntimeError(step)

    return checkpoint


def test_a_released_hold_can_be_taken_again_at_once(postgres_url: str) -> None:
    # Rotations back to back: each takes the credential's hold the moment the last let it go.
    with (
        Store.open(database_url=postgres_url) as store,
        Store.open(database_url=postgres_url) as replica,
    ):
        for attempt in range(200):
            hold = journal.hold(store if attempt % 2 else replica, "agents")
            assert hold is not None, f"attempt {attempt}: the last release had not landed"
            hold.release()
