"""Backend selection (one precedence, unsafe backends refused) and calls with a timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.compat import properties

from vaults.backend import EncryptedKeyring
from vaults.errors import (
    BackendCorruptError,
    KeyringError,
    KeyringLockedError,
    KeyringUnavailableError,
    UsageError,
)
from vaults.keyrings import SecretBackend, open_secret_backend

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_HERE = __name__


# Tiny real backends. Their priorities are negative so keyring's own detection never picks them.


class MemoryKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        return -5

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.values.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such password")


class PlaintextFileKeyring(MemoryKeyring):
    """Stands for keyrings.alt.file.PlaintextKeyring: recognised by its name."""


class OpaqueName(PlaintextFileKeyring):
    """A plaintext backend under an innocent name is still refused (found through its bases)."""


class BlockingKeyring(MemoryKeyring):
    """Every call waits for ``release``, as a desktop unlock prompt would."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(timeout=60)
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(timeout=60)
        super().set_password(service, username, password)


_SLOW_LOAD_ARMED = threading.Event()
_SLOW_LOAD = threading.Event()


class SlowLoadingKeyring(MemoryKeyring):
    @properties.classproperty
    def priority(cls) -> float:
        # Viable only inside its own test, so keyring's detection never waits on it.
        if not _SLOW_LOAD_ARMED.is_set():
            raise RuntimeError("only for the load timeout test")
        return -5

    def __init__(self) -> None:
        _SLOW_LOAD.wait(timeout=60)
        super().__init__()


class RaisingKeyring(MemoryKeyring):
    def __init__(self, error: BaseException | None = None) -> None:
        super().__init__()
        self.error = error or RuntimeError("unset")

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error


class StuckDeleteKeyring(MemoryKeyring):
    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.PasswordDeleteError("refused")


class EmptyChain(chainer.ChainerBackend):
    backends = ()


class PlaintextChain(chainer.ChainerBackend):
    @properties.classproperty
    def backends(cls) -> list[KeyringBackend]:
        return [MemoryKeyring(), PlaintextFileKeyring()]


def _write_keyringrc(default_keyring: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "python_keyring" / "keyringrc.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[backend]\ndefault-keyring = {default_keyring}\n", encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """No keyring configuration and, on Linux, no session bus: no system keyring at all."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the no-system-keyring case is only reproducible on Linux")
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)


# The backend contract, run here on the encrypted backend and in test_secret_service.py on a
# real Secret Service.


class BackendContract:
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[SecretBackend]:
        yield open_secret_backend(tmp_path / "store")

    @pytest.fixture
    def service(self, backend: SecretBackend) -> Iterator[str]:
        name = f"mcp-vault-test-{uuid.uuid4().hex}"
        yield name
        for key in ("name", "other", "ключ-🔑"):
            backend.delete(name, key)

    def test_a_missing_value_reads_as_none(self, backend: SecretBackend, service: str) -> None:
        assert backend.get(service, "name") is None

    def test_set_then_get_round_trips(self, backend: SecretBackend, service: str) -> None:
        backend.set(service, "name", "value")

        assert backend.get(service, "name") == "value"
        assert backend.get(service, "other") is None

    def test_unicode_and_awkward_values_round_trip(
        self, backend: SecretBackend, service: str
    ) -> None:
        value = "pässwörd 🔑 ключ \t\n\"' \\ " + "x" * 2000
        backend.set(service, "ключ-🔑", value)

        assert backend.get(service, "ключ-🔑") == value

    def test_empty_value_is_kept_distinct_from_missing(
        self, backend: SecretBackend, service: str
    ) -> None:
        backend.set(service, "name", "")

        assert backend.get(service, "name") == ""

    def test_overwrite_keeps_the_last_value(self, backend: SecretBackend, service: str) -> None:
        backend.set(service, "name", "first")
        backend.set(service, "name", "second")

        assert backend.get(service, "name") == "second"

    def test_delete_removes_only_that_value(self, backend: SecretBackend, service: str) -> None:
        backend.set(service, "name", "value")
        backend.set(service, "other", "kept")

        backend.delete(service, "name")

        assert backend.get(service, "name") is None
        assert backend.get(service, "other") == "kept"

    def test_delete_of_a_missing_value_is_fine(self, backend: SecretBackend, service: str) -> None:
        backend.delete(service, "name")
        backend.delete(service, "name")

        assert backend.get(service, "name") is None

    def test_empty_names_are_refused(self, backend: SecretBackend, service: str) -> None:
        with pytest.raises(UsageError):
            backend.set(service, "", "value")
        with pytest.raises(UsageError):
            backend.get("", "name")


class TestEncryptedBackendContract(BackendContract):
    def test_it_is_the_encrypted_backend(self, backend: SecretBackend, tmp_path: Path) -> None:
        assert backend.name == "vaults.backend.EncryptedKeyring"
        assert str(tmp_path / "store") in backend.description


# Selection order.


def test_the_explicit_name_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, store: Path
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

    backend = open_secret_backend(store, f"{_HERE}.MemoryKeyring")

    assert backend.name == f"{_HERE}.MemoryKeyring"
    assert "explicitly" in backend.description


def test_an_explicit_instance_is_used_as_is(store: Path) -> None:
    memory = MemoryKeyring()

    backend = open_secret_backend(store, memory)
    backend.set("svc", "name", "value")

    assert memory.values == {("svc", "name"): "value"}


def test_the_environment_wins_over_keyringrc(monkeypatch: pytest.MonkeyPatch, store: Path) -> None:
    _write_keyringrc("keyring.backends.null.Keyring")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", f"{_HERE}.MemoryKeyring")

    backend = open_secret_backend(store)

    assert backend.name == f"{_HERE}.MemoryKeyring"
    assert "PYTHON_KEYRING_BACKEND" in backend.description


def test_keyringrc_wins_over_detection(unconfigured: None, store: Path) -> None:
    rc = _write_keyringrc(f"{_HERE}.MemoryKeyring")

    backend = open_secret_backend(store)

    assert backend.name == f"{_HERE}.MemoryKeyring"
    assert str(rc) in backend.description


def test_without_configuration_or_system_keyring_the_encrypted_backend_is_used(
    unconfigured: None, store: Path
) -> None:
    backend = open_secret_backend(store)
    backend.set("svc", "name", "value")

    assert backend.name == "vaults.backend.EncryptedKeyring"
    assert "no system keyring is usable" in backend.description
    assert (store / "secrets.db").exists()
    assert EncryptedKeyring(store).get_password("svc", "name") == "value"


def test_a_store_that_has_encrypted_values_keeps_using_them(
    unconfigured: None, store: Path
) -> None:
    EncryptedKeyring(store).set_password("svc", "name", "value")

    backend = open_secret_backend(store)

    assert backend.name == "vaults.backend.EncryptedKeyring"
    assert "already keeps its values there" in backend.description
    assert backend.get("svc", "name") == "value"


def test_the_encrypted_backend_named_in_the_environment_lives_in_the_given_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MCP_VAULT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "vaults.backend.EncryptedKeyring")

    backend = open_secret_backend(tmp_path / "store")
    backend.set("svc", "name", "value")

    assert (tmp_path / "store" / "secrets.db").exists()
    assert not (tmp_path / "elsewhere").exists()


# Refusals.


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("keyring.backends.fail.Keyring", "no keyring is available"),
        ("keyring.backends.null.Keyring", "discards every value"),
        (f"{_HERE}.PlaintextFileKeyring", "plaintext"),
        (f"{_HERE}.OpaqueName", "plaintext"),
        (f"{_HERE}.EmptyChain", "chains no usable backend"),
        (f"{_HERE}.PlaintextChain", "plaintext"),
    ],
    ids=["fail", "null", "plaintext", "plaintext-base", "empty-chain", "plaintext-in-chain"],
)
def test_unsafe_backends_from_the_environment_are_refused(
    monkeypatch: pytest.MonkeyPatch, store: Path, name: str, reason: str
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)

    with pytest.raises(KeyringUnavailableError) as caught:
        open_secret_backend(store)

    message = str(caught.value)
    assert reason in message
    assert "unset PYTHON_KEYRING_BACKEND" in message
    assert "vaults.backend.EncryptedKeyring" in message
    assert "\n" not in message


def test_an_unsafe_backend_in_keyringrc_names_the_file(unconfigured: None, store: Path) -> None:
    rc = _write_keyringrc("keyring.backends.null.Keyring")

    with pytest.raises(KeyringUnavailableError, match="discards every value") as caught:
        open_secret_backend(store)

    assert str(rc) in str(caught.value)


def test_an_explicit_unsafe_instance_is_refused(store: Path) -> None:
    with pytest.raises(KeyringUnavailableError, match="fail backend"):
        open_secret_backend(store, fail.Keyring())


@pytest.mark.parametrize(
    "name",
    ["no.such.module.Keyring", f"{_HERE}.NoSuchClass", "NoDots"],
    ids=["module", "class", "no-dots"],
)
def test_a_backend_that_cannot_be_loaded_is_reported(
    monkeypatch: pytest.MonkeyPatch, store: Path, name: str
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)

    with pytest.raises(KeyringUnavailableError, match="PYTHON_KEYRING_BACKEND") as caught:
        open_secret_backend(store)

    assert name in str(caught.value)


# Timeouts.


def test_a_call_that_hangs_times_out_as_locked(store: Path) -> None:
    blocking = BlockingKeyring()
    backend = open_secret_backend(store, blocking, timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(KeyringLockedError, match=r"did not answer within 0\.2 s") as caught:
            backend.set("svc", "name", "the-secret-value")
        elapsed = time.monotonic() - started
    finally:
        blocking.release.set()

    assert 0.15 < elapsed < 2.0
    assert "the-secret-value" not in str(caught.value)
    assert "PYTHON_KEYRING_BACKEND=vaults.backend.EncryptedKeyring" in str(caught.value)


def test_a_backend_that_hangs_while_loading_times_out(store: Path) -> None:
    _SLOW_LOAD_ARMED.set()
    try:
        with pytest.raises(KeyringLockedError, match="did not load"):
            open_secret_backend(store, f"{_HERE}.SlowLoadingKeyring", timeout=0.2)
    finally:
        _SLOW_LOAD.set()
        _SLOW_LOAD_ARMED.clear()


def test_a_hung_keyring_call_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import threading, sys
        from pathlib import Path
        from keyring.backend import KeyringBackend
        from vaults.errors import KeyringLockedError
        from vaults.keyrings import open_secret_backend

        class Hung(KeyringBackend):
            priority = -5
            def get_password(self, service, username):
                threading.Event().wait()
            set_password = delete_password = get_password

        try:
            open_secret_backend(Path(sys.argv[1]), Hung(), timeout=0.2).get("svc", "name")
        except KeyringLockedError:
            print("locked")
        """
    )
    env = dict(os.environ, PYTHONPATH=str(_PROJECT_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "locked"


# Error translation.


@pytest.mark.parametrize(
    ("error", "expected", "text"),
    [
        (keyring.errors.KeyringLocked("collection locked"), KeyringLockedError, "is locked"),
        (keyring.errors.NoKeyringError("no backend"), KeyringUnavailableError, "no backend"),
        (keyring.errors.InitError("bus gone"), KeyringUnavailableError, "bus gone"),
        (keyring.errors.PasswordSetError("denied"), KeyringError, "could not write"),
        (RuntimeError("dbus\nfailure"), KeyringError, "dbus failure"),
    ],
    ids=["locked", "no-keyring", "init", "set-error", "foreign"],
)
def test_keyring_failures_become_vault_errors(
    store: Path, error: Exception, expected: type[Exception], text: str
) -> None:
    backend = open_secret_backend(store, RaisingKeyring(error))

    with pytest.raises(expected, match=text) as caught:
        backend.set("svc", "name", "value")

    assert type(caught.value) is expected
    assert caught.value.__cause__ is error


def test_a_value_echoed_by_a_backend_error_is_scrubbed(store: Path) -> None:
    backend = open_secret_backend(
        store, RaisingKeyring(keyring.errors.PasswordSetError("cannot store 'hunter2-secret'"))
    )

    with pytest.raises(KeyringError) as caught:
        backend.set("svc", "name", "hunter2-secret")

    assert "hunter2-secret" not in str(caught.value)


def test_a_damaged_encrypted_value_surfaces_as_backend_corrupt(store: Path) -> None:
    backend = open_secret_backend(store, "vaults.backend.EncryptedKeyring")
    backend.set("svc", "name", "value")
    (store / "secrets.key").write_bytes(os.urandom(32))

    with pytest.raises(BackendCorruptError):
        open_secret_backend(store, "vaults.backend.EncryptedKeyring").get("svc", "name")


def test_a_delete_the_backend_refuses_is_not_taken_for_missing(store: Path) -> None:
    stuck = StuckDeleteKeyring()
    backend = open_secret_backend(store, stuck)
    backend.set("svc", "name", "value")
    backend.delete("svc", "missing")

    with pytest.raises(KeyringError, match="could not delete"):
        backend.delete("svc", "name")


def test_the_fail_backend_called_directly_reports_unavailable() -> None:
    backend = SecretBackend(fail.Keyring(), description="fail")

    with pytest.raises(KeyringUnavailableError, match="not available"):
        backend.get("svc", "name")


def test_null_is_refused_even_though_it_would_answer(store: Path) -> None:
    with pytest.raises(KeyringUnavailableError):
        open_secret_backend(store, null.Keyring())
