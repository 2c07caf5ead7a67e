from __future__ import annotations

from vaults import Store, doctor
from vaults.index import FILENAME


def test_doctor_reports_a_healthy_store(store: Store) -> None:
    store.add_token("agents")
    checks = {check.name: check for check in doctor.store_checks(store)}
    assert all(check.ok for check in checks.values()), checks
    assert "EncryptedKeyring" in checks["keyring backend"].detail


def test_doctor_finds_loose_permissions_and_missing_values(store: Store) -> None:
    store.add_token("agents")
    store.backend.delete(store.service, "agents@1")
    (store.store_dir / FILENAME).chmod(0o644)
    checks = {check.name: check for check in doctor.store_checks(store)}
    assert not checks["permissions"].ok and "chmod" in checks["permissions"].detail
    assert not checks["values"].ok and "agents@1" in checks["values"].detail
