"""The backend contract against a real Secret Service (gnome-keyring).

Run by ``tests/secret_service.sh``, which starts one on a private D-Bus session bus.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vaults.test_keyrings import BackendContract
from vaults.backend import EncryptedKeyring
from vaults.errors import KeyringLockedError
from vaults.keyrings import SecretBackend, open_secret_backend

_SECRET_SERVICE = "keyring.backends.SecretService.Keyring"


def _secret_service_answers() -> bool:
    # Both variables are exported by tests/secret_service.sh; a developer's own keyring is never
    # used just because their shell names the Secret Service.
    if os.environ.get("PYTHON_KEYRING_BACKEND") != _SECRET_SERVICE:
        return False
    if os.environ.get("MCP_TEST_KEEP_KEYRING_BACKEND") != "1":
        return False
    from keyring.backends import SecretService

    return bool(SecretService.Keyring.viable)


# In CI (.ci/run sets MCP_SECRET_SERVICE_REQUIRED=1) a Secret Service that does not answer fails
# these tests instead of skipping them.
pytestmark = [
    pytest.mark.secret_service,
    pytest.mark.skipif(
        os.environ.get("MCP_SECRET_SERVICE_REQUIRED") != "1" and not _secret_service_answers(),
        reason="gnome-keyring not running; run via tests/secret_service.sh",
    ),
]


class TestSecretServiceContract(BackendContract):
    def test_it_is_the_secret_service(self, backend: SecretBackend) -> None:
        assert backend.name == _SECRET_SERVICE
        assert "PYTHON_KEYRING_BACKEND" in backend.description


def test_it_is_detected_as_the_system_keyring(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")

    backend = open_secret_backend(tmp_path / "store")

    assert backend.name == _SECRET_SERVICE
    assert "system keyring" in backend.description
    assert not (tmp_path / "store").exists()


def test_a_store_with_encrypted_values_does_not_switch_to_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    EncryptedKeyring(tmp_path).set_password("svc", "name", "value")

    backend = open_secret_backend(tmp_path)

    assert backend.name == "vaults.backend.EncryptedKeyring"
    assert backend.get("svc", "name") == "value"


@pytest.fixture
def locked_collection() -> Iterator[str]:
    """A second collection, created through gnome-keyring's internal API (no prompt), locked."""
    import secretstorage
    from secretstorage.util import DBusAddressWrapper, format_secret, open_session

    connection = secretstorage.dbus_init()
    internal = DBusAddressWrapper(
        "/org/freedesktop/secrets",
        "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
        connection,
    )
    password = os.urandom(16).hex().encode()
    master = format_secret(open_session(connection), password, "text/plain")
    label = {"org.freedesktop.Secret.Collection.Label": ("s", f"mcp-vault-locked-{os.getpid()}")}
    path = internal.call("CreateWithMasterPassword", "a{sv}(oayays)", label, master)[0]
    collection = secretstorage.Collection(connection, path)
    collection.lock()
    assert collection.is_locked()
    try:
        yield path
    finally:
        master = format_secret(open_session(connection), password, "text/plain")
        internal.call("UnlockWithMasterPassword", "o(oayays)", path, master)
        collection.delete()
        connection.close()
        gc.collect()


# keyring 25.7's SecretService backend leaks its D-Bus connection when a collection stays locked
# (get_preferred_collection raises before closing it); that unclosed socket is not ours to fix.
_IGNORE_KEYRING_LEAK = pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning")


@_IGNORE_KEYRING_LEAK
def test_a_locked_collection_fails_fast_as_locked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, locked_collection: str
) -> None:
    monkeypatch.setenv("KEYRING_PROPERTY_PREFERRED_COLLECTION", locked_collection)
    backend = open_secret_backend(tmp_path, timeout=3.0)

    started = time.monotonic()
    with pytest.raises(KeyringLockedError, match="is locked"):
        backend.set("svc", "name", "value")
    with pytest.raises(KeyringLockedError, match="is locked"):
        backend.get("svc", "name")

    assert time.monotonic() - started < 3.0


@_IGNORE_KEYRING_LEAK
def test_detection_passes_over_a_locked_collection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, locked_collection: str
) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    monkeypatch.setenv("KEYRING_PROPERTY_PREFERRED_COLLECTION", locked_collection)

    backend = open_secret_backend(tmp_path)

    assert backend.name == "vaults.backend.EncryptedKeyring"
    assert "SecretService.Keyring is locked" in backend.description
