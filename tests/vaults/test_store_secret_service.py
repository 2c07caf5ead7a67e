"""The store end to end on a real Secret Service (gnome-keyring); run by tests/secret_service.sh."""

from __future__ import annotations

import os

import pytest

from vaults import Store, doctor, rotate

_SECRET_SERVICE = "keyring.backends.SecretService.Keyring"

pytestmark = [
    pytest.mark.secret_service,
    pytest.mark.skipif(
        os.environ.get("MCP_SECRET_SERVICE_REQUIRED") != "1"
        and (
            os.environ.get("PYTHON_KEYRING_BACKEND") != _SECRET_SERVICE
            or os.environ.get("MCP_TEST_KEEP_KEYRING_BACKEND") != "1"
        ),
        reason="gnome-keyring not running; run via tests/secret_service.sh",
    ),
]


def test_tokens_and_secrets_live_in_the_secret_service() -> None:
    with Store.open() as store:
        store.init()
        assert store.backend.name == _SECRET_SERVICE
        minted = store.add_token("agents")
        store.add_secret("crm", "crm-value")
        rotated = rotate(store, "agents", grace=3600)
        verifier = store.token_index()
        assert verifier.verify(minted.token) is not None
        assert verifier.verify(rotated.value) is not None
        assert store.secret("crm") == "crm-value"
        assert store.reveal("agents") == rotated.value
        assert all(check.ok for check in doctor.checks(store))
        assert not (store.store_dir / "secrets.db").exists()
        store.remove("agents")
        store.remove("crm")
        assert store.backend.get(store.service, "crm@1") is None
