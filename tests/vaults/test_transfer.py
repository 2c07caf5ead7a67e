"""mcp-vault export / import: a store moves between SQLite and PostgreSQL, overwriting nothing."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.vaults._vault import run_cli
from vaults import (
    AlreadyExistsError,
    BackendCorruptError,
    Link,
    Store,
    UsageError,
    links,
    register_pusher,
    rotate,
    unregister_pusher,
)
from vaults.transfer import export, import_


class _Pushes(list[tuple[str, str]]):
    def push(self, link: Link, value: str) -> None:
        self.append((link.remote_id or "", value))


def _fill(store: Store) -> dict[str, str]:
    agents = store.add_token("agents", scopes=["inv_*"], rotate_every=86400)
    rotated = rotate(store, "agents", grace=3600).value
    store.add_secret("crm", "crm-secret-value")
    links.add(store, "agents", kind="test-moved", vault_id="vlt_a", url="https://b/mcp",
              remote_id="vcrd_1")  # fmt: skip
    store.revoke("crm")
    store.add_secret("db", "db-password")
    return {"old": agents.token, "new": rotated, "db": "db-password", "crm": "crm-secret-value"}


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_a_store_moves_between_engines_with_its_hashes_audit_and_values(
    tmp_path: Path, postgres_url: str, direction: str
) -> None:
    urls = {"sqlite": "", "postgresql": postgres_url}
    source_engine, target_engine = direction.split("-to-")
    archive = tmp_path / "store.json"
    with Store.open(tmp_path / "a", database_url=urls[source_engine]) as source:
        values = _fill(source)
        before = [info.to_dict() for info in source.list()]
        trail = [(row.action, row.credential, row.version) for row in source.audit()]
        done = export(source, archive)
        store_id = source.store_id
    assert (done.credentials, done.values, done.missing) == (3, 2, ())
    raw = archive.read_bytes()
    for value in values.values():
        assert value.encode() not in raw
    assert stat.S_IMODE(archive.stat().st_mode) == stat.S_IMODE(done.key_path.stat().st_mode)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with Store.open(tmp_path / "b", database_url=urls[target_engine]) as target:
        import_(target, archive)
        assert target.index.engine == target_engine
        assert target.store_id == store_id
        assert [info.to_dict() for info in target.list()] == before
        moved = [(row.action, row.credential, row.version) for row in target.audit()]
        # by time: the exported trail, then the target's own init, then the import
        assert moved[: len(trail)] == trail
        assert [action for action, _, _ in moved[len(trail) :]] == ["init", "import"]
        with target.token_index() as verifier:
            assert verifier.verify(values["old"]) is not None  # previous, within its grace
            assert verifier.verify(values["new"]) is not None
        assert target.secret("db") == "db-password"
        assert [link.remote_id for link in target.links("agents")] == ["vcrd_1"]
        pushes = _Pushes()
        register_pusher("test-moved", pushes)
        try:
            third = rotate(target, "agents")  # the versions and the link carry on
        finally:
            unregister_pusher("test-moved")
        assert third.version == 3 and pushes == [("vcrd_1", third.value)]


def test_export_refuses_to_overwrite_and_import_refuses_a_store_in_use(tmp_path: Path) -> None:
    archive = tmp_path / "store.json"
    with Store.open(tmp_path / "a") as source:
        source.add_secret("crm", "v")
        export(source, archive)
        with pytest.raises(AlreadyExistsError, match="refuses to overwrite"):
            export(source, archive)
    with Store.open(tmp_path / "b") as target:
        target.add_secret("other", "mine")
        with pytest.raises(AlreadyExistsError, match="refuses to overwrite"):
            import_(target, archive)
        assert [info.name for info in target.list()] == ["other"]
        assert target.secret("other") == "mine"


def test_an_import_with_another_key_or_a_damaged_file_changes_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "store.json"
    with Store.open(tmp_path / "a") as source:
        source.add_secret("crm", "v")
        export(source, archive)
        export(source, tmp_path / "other.json")
    with Store.open(tmp_path / "b") as target:
        with pytest.raises(BackendCorruptError, match="does not decrypt"):
            import_(target, archive, key_path=tmp_path / "other.json.key")
        (tmp_path / "junk.json").write_text(json.dumps({"format": "something else"}))
        with pytest.raises(UsageError, match="not an mcp-vault export"):
            import_(target, tmp_path / "junk.json", key_path=archive.with_name("store.json.key"))
        assert target.list() == []


def test_the_commands_move_a_store_into_postgresql(tmp_path: Path, postgres_url: str) -> None:
    added = run_cli("add", "agents", "--kind", "token")
    assert added.returncode == 0, added.stderr
    token = added.stdout.splitlines()[-1]
    archive = tmp_path / "store.json"
    done = run_cli("export", str(archive))
    assert done.returncode == 0, done.stderr
    assert "exported 1 credentials" in done.stdout and str(archive) + ".key" in done.stdout
    again = run_cli("export", str(archive))
    assert again.returncode == 1 and "refuses to overwrite" in again.stderr
    moved = run_cli("import", str(archive), MCP_VAULT_DATABASE_URL=postgres_url)
    assert moved.returncode == 0, moved.stderr
    assert "postgresql://" in moved.stdout and "imported 1 credentials" in moved.stdout
    twice = run_cli("import", str(archive), MCP_VAULT_DATABASE_URL=postgres_url)
    assert twice.returncode == 1 and "already holds 1 credentials" in twice.stderr
    with Store.open(database_url=postgres_url) as target, target.token_index() as verifier:
        assert verifier.verify(token) is not None
        assert target.reveal("agents") == token
