from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

import vaults
from vaults import (
    AlreadyExistsError,
    AuditError,
    NotFoundError,
    Store,
    StoreError,
    UsageError,
    rotate,
)
from vaults.index import FILENAME, SCHEMA_VERSION


def test_open_creates_a_private_store_in_mcp_vault_dir() -> None:
    with Store.open() as store:
        store.init()
        assert store.store_dir == Path(os.environ["MCP_VAULT_DIR"])
        assert stat.S_IMODE(store.store_dir.stat().st_mode) == 0o700
        for path in store.store_dir.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        assert len(store.store_id) == 16


def test_an_explicit_store_dir_wins_over_the_environment(tmp_path: Path) -> None:
    with Store.open(tmp_path / "elsewhere") as store:
        assert store.store_dir == tmp_path / "elsewhere"
    assert not Path(os.environ["MCP_VAULT_DIR"]).exists()


def test_without_flag_or_environment_the_store_is_in_the_xdg_data_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MCP_VAULT_DIR")
    expected = Path(os.environ["XDG_DATA_HOME"]) / "mcp-vault"
    assert vaults.resolve_store_dir() == vaults.default_store_dir() == expected
    with Store.open() as store:
        assert store.store_dir == expected
    assert vaults.resolve_store_dir("") == expected


@pytest.mark.sqlite_only
def test_the_index_is_sqlite_in_wal_mode_with_a_schema_version(store: Store) -> None:
    with sqlite3.connect(store.store_dir / FILENAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1
    conn.close()


def test_open_without_create_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="mcp-vault init"):
        Store.open(tmp_path / "missing", create=False)


def test_init_is_idempotent_and_keeps_the_store_id(store: Store) -> None:
    store.init()
    first = store.store_id
    store.init()
    with Store.open() as again:
        again.init()
        assert again.store_id == first
    assert [row.action for row in store.audit()].count("init") == 1


def test_add_token_mints_a_token_the_verifier_accepts(store: Store) -> None:
    minted = store.add_token("agents", scopes=["inv_*", "run_tests"], rotate_every=86400)
    assert minted.version == 1 and minted.token.startswith("mcpb_")
    principal = store.token_index().verify(minted.token)
    assert principal is not None
    assert (principal.name, principal.kid, principal.scopes) == (
        "agents", minted.kid, ("inv_*", "run_tests"),
    )  # fmt: skip
    info = store.show("agents")
    assert info.kind == "token" and info.rotate_every == 86400
    assert [(v.version, v.state, v.kid) for v in info.versions] == [(1, "current", minted.kid)]
    assert store.reveal("agents") == minted.token


def test_add_secret_keeps_the_value_in_the_keyring_only(store: Store) -> None:
    store.add_secret("crm-key", "s3cr3t value with spaces")
    assert store.secret("crm-key") == "s3cr3t value with spaces"
    assert store.has_secret("crm-key")
    assert not store.has_secret("other")
    assert store.show("crm-key").versions[0].kid is None


def test_a_duplicate_name_is_refused_and_keeps_the_first_value(store: Store) -> None:
    store.add_secret("db", "first")
    with pytest.raises(AlreadyExistsError, match="already exists"):
        store.add_secret("db", "second")
    with pytest.raises(AlreadyExistsError):
        store.add_token("db")
    assert store.secret("db") == "first"


@pytest.mark.parametrize("name", ["", "-x", "has space", "a/b", "x" * 65, "ünï", "a:b"])
def test_bad_names_are_usage_errors(store: Store, name: str) -> None:
    with pytest.raises(UsageError, match="bad credential name"):
        store.add_secret(name, "v")


def test_empty_secret_values_and_bad_scopes_are_refused(store: Store) -> None:
    with pytest.raises(UsageError):
        store.add_secret("x", "")
    with pytest.raises(UsageError):
        store.add_token("x", scopes=[" "])
    with pytest.raises(UsageError):
        store.add_token("x", rotate_every=0)
    assert store.list() == []


def test_unknown_names_say_how_to_find_the_right_one(store: Store) -> None:
    for call in (store.show, store.secret, store.reveal, store.remove, store.revoke):
        with pytest.raises(NotFoundError, match="mcp-vault list"):
            call("ghost")


def test_revoke_without_version_revokes_every_live_version(store: Store) -> None:
    store.add_token("agents")
    rotate(store, "agents", grace=3600)
    assert store.revoke("agents") == [2, 1]
    assert {v.state for v in store.show("agents").versions} == {"revoked"}
    assert store.revoke("agents") == []
    with pytest.raises(NotFoundError, match="no current version"):
        store.secret("agents")
    assert not store.has_secret("agents")


def test_revoke_one_version_leaves_the_others(store: Store) -> None:
    first = store.add_token("agents")
    second = rotate(store, "agents", grace=3600)
    assert store.revoke("agents", version=1) == [1]
    verifier = store.token_index()
    assert verifier.verify(first.token) is None
    assert verifier.verify(second.value) is not None
    with pytest.raises(NotFoundError, match="no version 7"):
        store.revoke("agents", version=7)


def test_remove_deletes_rows_and_values_but_keeps_the_audit(store: Store) -> None:
    minted = store.add_token("agents")
    rotate(store, "agents", grace=3600)
    service, backend = store.service, store.backend
    store.remove("agents")
    assert store.list() == []
    assert backend.get(service, "agents@1") is None
    assert backend.get(service, "agents@2") is None
    assert store.token_index().verify(minted.token) is None
    assert [row.action for row in store.audit() if row.credential == "agents"][-1] == "remove"
    again = store.add_token("agents")
    assert again.version == 1 and store.reveal("agents") == again.token


def test_every_change_is_audited_without_values(store: Store) -> None:
    minted = store.add_token("agents")
    store.add_secret("crm", "the-secret-value")
    rotate(store, "agents", grace=60)
    store.revoke("agents", version=1)
    store.remove("crm")
    rows = store.audit()
    actions = [(row.action, row.credential) for row in rows]
    assert ("add", "agents") in actions and ("add", "crm") in actions
    assert ("rotate.finish", "agents") in actions and ("revoke", "agents") in actions
    assert ("remove", "crm") in actions
    assert all(row.os_user and row.outcome for row in rows)
    text = repr(rows)
    assert minted.token not in text and "the-secret-value" not in text
    assert store.audit(since=rows[-1].at) == [rows[-1]]


def test_a_change_whose_audit_row_fails_is_not_made(store: Store, engine: str) -> None:
    store.add_token("before")
    if engine == "sqlite":
        with sqlite3.connect(store.store_dir / FILENAME) as conn:
            conn.execute(
                "CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit "
                "disk full'); END"
            )
        conn.close()
    else:
        store.index.execute(
            "CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$"
        )
        store.index.execute(
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit FOR EACH ROW "
            "EXECUTE FUNCTION no_audit()"
        )
    for change in (
        lambda: store.add_token("agents"),
        lambda: store.add_secret("crm", "v"),
        lambda: store.revoke("before"),
        lambda: rotate(store, "before"),
        lambda: store.remove("before"),
    ):
        with pytest.raises(AuditError, match="nothing was changed"):
            change()
    assert [info.name for info in store.list()] == ["before"]
    info = store.show("before")
    assert [v.state for v in info.versions] == ["current"] and info.rotation is None
    assert store.backend.get(store.service, "agents@1") is None


def test_values_and_tokens_never_show_in_reprs_or_errors(store: Store) -> None:
    minted = store.add_token("agents")
    store.add_secret("crm", "crm-secret-value")
    result = rotate(store, "agents")
    texts = [repr(minted), repr(result), repr(store.list()), repr(store), repr(store.backend)]
    with pytest.raises(AlreadyExistsError) as caught:
        store.add_secret("crm", "crm-secret-value")
    texts.append(str(caught.value))
    joined = "\n".join(texts)
    for value in (minted.token, result.value, "crm-secret-value"):
        assert value not in joined


@pytest.mark.sqlite_only  # PostgreSQL: test_postgres.py reads every table
def test_no_value_is_written_to_any_store_file_but_the_secret_backends(store: Store) -> None:
    values = [store.add_token(f"t{i}").token for i in range(3)]
    values.append(rotate(store, "t0", grace=3600).value)
    for i in range(3):
        value = f"plain-secret-{i}-" + "x" * 20
        store.add_secret(f"s{i}", value)
        values.append(value)
    own = {"secrets.db", "secrets.db-wal", "secrets.db-shm", "secrets.key"}
    # Once with the index open (its -wal file holds the latest pages), once after closing it.
    for expected in ({"index.db", "index.db-wal"}, {"index.db"}):
        scanned = [p for p in store.store_dir.rglob("*") if p.is_file() and p.name not in own]
        assert {p.name for p in scanned} >= expected
        for path in scanned:
            raw = path.read_bytes()
            for value in values:
                assert value.encode() not in raw, path.name
                secret = value.split("_")[2].encode() if value.startswith("mcpb_") else None
                assert secret is None or secret not in raw
        store.close()


def test_a_damaged_index_is_a_store_error_that_says_what_to_do(tmp_path: Path) -> None:
    store_dir = tmp_path / "broken"
    store_dir.mkdir(mode=0o700)
    (store_dir / FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="move it aside"):
        Store.open(store_dir)


def test_an_index_from_a_newer_version_is_refused(store: Store, engine: str) -> None:
    if engine == "sqlite":
        with sqlite3.connect(store.store_dir / FILENAME) as conn:
            conn.execute("PRAGMA user_version = 99")
        conn.close()
    else:
        store.index.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
    with pytest.raises(StoreError, match="upgrade mcp-vault"):
        Store.open()


def test_the_public_api_is_listed_and_importable() -> None:
    assert sorted(vaults.__all__) == vaults.__all__
    for name in vaults.__all__:
        assert getattr(vaults, name) is not None
    public = {n for n in dir(vaults) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(vaults.__all__)


@pytest.mark.parametrize(
    "every", [3651 * 86400.0, float("inf"), float("nan"), 0.0], ids=["3651d", "inf", "nan", "zero"]
)
def test_the_library_bounds_the_rotation_period(store: Store, every: float) -> None:
    with pytest.raises(UsageError, match="rotate-every"):
        store.add_token("agents", rotate_every=every)
    assert store.list() == []
