from __future__ import annotations

import pytest

from vaults import Store, doctor
from vaults.index import FILENAME


def test_doctor_reports_a_healthy_store(store: Store, engine: str) -> None:
    store.add_token("agents")
    checks = {check.name: check for check in doctor.store_checks(store)}
    assert all(check.ok for check in checks.values()), checks
    backend = "EncryptedKeyring" if engine == "sqlite" else "PostgresKeyring"
    assert backend in checks["keyring backend"].detail
    assert "schema v" in checks["index"].detail


def test_doctor_finds_loose_permissions_and_missing_values(store: Store) -> None:
    store.add_token("agents")
    store.backend.delete(store.service, "agents@1")
    (store.index.path or store.store_dir / "secrets.key").chmod(0o644)
    checks = {check.name: check for check in doctor.store_checks(store)}
    assert not checks["permissions"].ok and "chmod" in checks["permissions"].detail
    assert not checks["values"].ok and "agents@1" in checks["values"].detail


@pytest.mark.sqlite_only
def test_doctor_fails_the_index_check_on_a_log_damaged_while_open(store: Store) -> None:
    for i in range(4):
        store.add_secret(f"s{i}", "v")  # this connection stays open: the log is not folded in
    assert store.index.path is not None
    log = store.index.path.with_name(FILENAME + "-wal")
    data = bytearray(log.read_bytes())
    frame = 24 + int.from_bytes(data[8:12], "big")
    data[32 + frame + 24 + 3] ^= 0xFF  # the page of the second frame
    log.write_bytes(bytes(data))
    [index] = [check for check in doctor.store_checks(store) if check.name == "index"]
    assert not index.ok and "log damaged" in index.detail and "restore a backup" in index.detail
