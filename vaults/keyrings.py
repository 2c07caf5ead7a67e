"""Choosing the keyring backend that holds a store's values, and calling it with a timeout.

One precedence, implemented in ``open_secret_backend``: the explicit argument, then keyring's own
configuration (``PYTHON_KEYRING_BACKEND``, then ``keyringrc.cfg``), then the system keyring if it
answers, then the project's encrypted backend. Backends that would lose or expose secrets (the
``fail`` and ``null`` backends, anything plaintext) are refused with a message saying how to fix it.

A store whose index is in PostgreSQL keeps its values there too, encrypted
(``open_database_backend``), so that every replica reads them: keyring's choice does not apply
to its values, only (with ``MCP_VAULT_DATA_KEY=keyring``) to where its data key is kept.
"""

from __future__ import annotations

import functools
import os
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import keyring.core
import keyring.errors
from keyring.backend import KeyringBackend

from vaults.backend import DB_NAME, EncryptedKeyring
from vaults.errors import (
    KeyringError,
    KeyringLockedError,
    KeyringUnavailableError,
    UsageError,
    VaultError,
)

if TYPE_CHECKING:
    from vaults.index import Index

__all__ = ["ENCRYPTED_BACKEND", "SecretBackend", "open_database_backend", "open_secret_backend"]

ENCRYPTED_BACKEND = "vaults.backend.EncryptedKeyring"

_T = TypeVar("_T")
_PROBE_SERVICE = "mcp-vault"
_PROBE_KEY = "backend-probe"
_UNLOCK_HINT = (
    "unlock it (log in to the desktop session, or run `gnome-keyring-daemon --unlock`) or set "
    f"PYTHON_KEYRING_BACKEND={ENCRYPTED_BACKEND} to use the encrypted file backend"
)


class _TimedOut(Exception):
    pass


class SecretBackend:
    """The keyring backend a store uses; every call runs with a timeout.

    ``get`` returns None only for a missing value: a locked, unreachable or damaged backend
    raises a ``vaults.errors.KeyringError`` subclass. Messages never contain a value.
    """

    def __init__(
        self, keyring_backend: KeyringBackend, *, description: str, timeout: float = 3.0
    ) -> None:
        self.keyring_backend = keyring_backend
        self.name = _dotted_name(keyring_backend)
        self.description = description
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SecretBackend(name={self.name!r}, timeout={self.timeout!r})"

    def close(self) -> None:
        """Let go of what the backend holds open (the PostgreSQL backend's connections)."""
        close = getattr(self.keyring_backend, "close", None)
        if callable(close):
            close()

    def get(self, service: str, key: str) -> str | None:
        _check_names(service, key)
        return self._call(
            "read", service, key, lambda: self.keyring_backend.get_password(service, key)
        )

    def set(self, service: str, key: str, value: str) -> None:
        _check_names(service, key)
        if not isinstance(value, str):
            raise UsageError(f"the value of {service}/{key} must be text")
        self._call(
            "write",
            service,
            key,
            lambda: self.keyring_backend.set_password(service, key, value),
            value=value,
        )

    def delete(self, service: str, key: str) -> None:
        _check_names(service, key)

        def delete() -> None:
            try:
                self.keyring_backend.delete_password(service, key)
            except keyring.errors.PasswordDeleteError:
                # Backends report a missing value this way; anything still there is a real failure.
                if self.keyring_backend.get_password(service, key) is not None:
                    raise

        self._call("delete", service, key, delete)

    def _call(
        self, action: str, service: str, key: str, fn: Callable[[], _T], *, value: str = ""
    ) -> _T:
        try:
            return _run_with_timeout(fn, self.timeout)
        except _TimedOut:
            raise KeyringLockedError(
                f"the keyring ({self.name}) did not answer within {self.timeout:g} s; is it "
                f"locked? {_UNLOCK_HINT}"
            ) from None
        except VaultError:
            raise
        except keyring.errors.KeyringLocked as exc:
            raise KeyringLockedError(
                f"the keyring ({self.name}) is locked; {_UNLOCK_HINT}"
            ) from exc
        except (keyring.errors.NoKeyringError, keyring.errors.InitError) as exc:
            raise KeyringUnavailableError(
                f"the keyring ({self.name}) is not available: {_message(exc, value)}; start or "
                f"unlock it, or set PYTHON_KEYRING_BACKEND={ENCRYPTED_BACKEND}"
            ) from exc
        except Exception as exc:
            raise KeyringError(
                f"the keyring ({self.name}) could not {action} {service}/{key}: "
                f"{_message(exc, value)}"
            ) from exc


def open_secret_backend(
    store_dir: Path,
    explicit: str | KeyringBackend | None = None,
    *,
    timeout: float = 3.0,
) -> SecretBackend:
    """Choose the keyring backend for the store in ``store_dir``.

    Order: ``explicit`` (a dotted class name or a backend instance), ``PYTHON_KEYRING_BACKEND``,
    ``keyringrc.cfg``, the system keyring (macOS Keychain, Windows Credential Locker, Secret
    Service) if it answers a probe within ``timeout``, else the encrypted file backend in
    ``store_dir``. A store whose encrypted file already exists keeps using it, so values never
    split between two backends when a system keyring appears later.

    Raises ``KeyringUnavailableError`` for a backend that cannot be loaded or would lose or
    expose secrets, and ``KeyringLockedError`` when a chosen backend does not answer in time.
    """
    store_dir = Path(store_dir)
    configured = _configured_backend(store_dir, explicit, timeout)
    if configured is not None:
        backend, source = configured
        _refuse_unsafe(backend, source)
        return SecretBackend(backend, description=_describe(backend, source), timeout=timeout)
    if (store_dir / DB_NAME).exists():
        return _encrypted(store_dir, "this store already keeps its values there", timeout)
    system, reason = _system_backend(timeout)
    if system is not None:
        return SecretBackend(
            system, description=_describe(system, "the system keyring"), timeout=timeout
        )
    return _encrypted(store_dir, f"no system keyring is usable: {reason}", timeout)


def open_database_backend(
    store_dir: Path,
    index: Index,
    explicit: str | KeyringBackend | None = None,
    *,
    timeout: float = 10.0,
) -> SecretBackend:
    """The backend of a PostgreSQL store's values: AES-GCM in its database (``vaults.pgbackend``)
    under the data key ``vaults.datakey`` finds. An explicit backend is refused: values kept
    anywhere else would be missing on the other replicas."""
    if explicit is not None:
        raise UsageError(
            "a store in PostgreSQL keeps its values in the database, encrypted, so that every "
            "replica has them; --backend applies to stores with a SQLite index only"
        )
    from vaults.datakey import key_source
    from vaults.pgbackend import PostgresKeyring

    db = index.db
    assert db.url is not None, "a SQLite store's values are chosen by open_secret_backend"
    source = key_source(store_dir, keyring=lambda: open_secret_backend(store_dir, timeout=timeout))
    backend = PostgresKeyring(db.url, source)
    description = f"values encrypted (AES-GCM) in {db.location}, data key from {source.description}"
    return SecretBackend(backend, description=description, timeout=timeout)


def _configured_backend(
    store_dir: Path, explicit: str | KeyringBackend | None, timeout: float
) -> tuple[KeyringBackend, str] | None:
    if isinstance(explicit, KeyringBackend):
        return explicit, "given explicitly"
    if explicit:
        source = "given explicitly"
        backend = _load(lambda: keyring.core.load_keyring(explicit), explicit, source, timeout)
    elif os.environ.get("PYTHON_KEYRING_BACKEND"):
        name = os.environ["PYTHON_KEYRING_BACKEND"]
        source = "from PYTHON_KEYRING_BACKEND"
        backend = _load(keyring.core.load_env, name, source, timeout)
    else:
        config = _config_path()
        source = f"from {config}"
        loaded = _load(keyring.core.load_config, str(config), source, timeout)
        if loaded is None:
            return None
        backend = loaded
    if backend is None:
        return None
    if isinstance(backend, EncryptedKeyring):
        # keyring built it without arguments; this store's values belong in this store.
        backend = type(backend)(store_dir)
    return backend, source


def _load(
    fn: Callable[[], KeyringBackend | None], name: str, source: str, timeout: float
) -> KeyringBackend | None:
    try:
        return _run_with_timeout(fn, timeout)
    except _TimedOut:
        raise KeyringLockedError(
            f"the keyring backend {name} ({source}) did not load within {timeout:g} s; "
            f"{_UNLOCK_HINT}"
        ) from None
    except Exception as exc:
        raise KeyringUnavailableError(
            f"cannot use the keyring backend {name} ({source}): {_message(exc)}; "
            f"{_how_to_fix(source)}"
        ) from exc


def _system_backend(timeout: float) -> tuple[KeyringBackend | None, str]:
    reasons = []
    for name in _system_candidates():
        try:
            return _run_with_timeout(functools.partial(_probe, name), timeout), ""
        except _TimedOut:
            reasons.append(f"{name} did not answer within {timeout:g} s (locked?)")
        except keyring.errors.KeyringLocked as exc:
            reasons.append(f"{name} is locked ({_message(exc)})")
        except Exception as exc:
            reasons.append(f"{name}: {_message(exc)}")
    return None, "; ".join(reasons) or "none on this platform"


def _probe(name: str) -> KeyringBackend:
    backend = keyring.core.load_keyring(name)
    backend.get_password(_PROBE_SERVICE, _PROBE_KEY)
    return backend


def _system_candidates() -> tuple[str, ...]:
    if sys.platform == "darwin":
        return ("keyring.backends.macOS.Keyring",)
    if sys.platform == "win32":
        return ("keyring.backends.Windows.WinVaultKeyring",)
    return ("keyring.backends.SecretService.Keyring", "keyring.backends.kwallet.DBusKeyring")


def _encrypted(store_dir: Path, why: str, timeout: float) -> SecretBackend:
    backend = EncryptedKeyring(store_dir)
    return SecretBackend(backend, description=_describe(backend, why), timeout=timeout)


def _describe(backend: KeyringBackend, why: str) -> str:
    if isinstance(backend, EncryptedKeyring):
        return f"encrypted file backend (AES-GCM) in {backend.db_path} ({why})"
    return f"{_dotted_name(backend)} ({why})"


def _refuse_unsafe(backend: KeyringBackend, source: str) -> None:
    reason = _unsafe_reason(backend)
    if reason is not None:
        raise KeyringUnavailableError(
            f"refusing the keyring backend {_dotted_name(backend)} ({source}): {reason}; "
            f"{_how_to_fix(source)}"
        )


def _unsafe_reason(backend: KeyringBackend) -> str | None:
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring):
        return "it is keyring's fail backend (no keyring is available)"
    if isinstance(backend, null.Keyring):
        return "it is keyring's null backend, which discards every value"
    if any(
        "plaintext" in f"{cls.__module__}.{cls.__qualname__}".lower()
        for cls in type(backend).__mro__
    ):
        return "it stores values in plaintext"
    if isinstance(backend, chainer.ChainerBackend):
        chained = list(backend.backends)
        if not chained:
            return "it chains no usable backend, so it behaves like the fail backend"
        for inner in chained:
            inner_reason = _unsafe_reason(inner)
            if inner_reason is not None:
                return f"it chains {_dotted_name(inner)}, and {inner_reason}"
    return None


def _how_to_fix(source: str) -> str:
    if source == "from PYTHON_KEYRING_BACKEND":
        return (
            "unset PYTHON_KEYRING_BACKEND to use the system keyring, or set "
            f"PYTHON_KEYRING_BACKEND={ENCRYPTED_BACKEND}"
        )
    if source == "given explicitly":
        return f"choose another backend, e.g. {ENCRYPTED_BACKEND}"
    return (
        f"fix default-keyring in {_config_path()} (e.g. {ENCRYPTED_BACKEND}) or remove it, or "
        f"set PYTHON_KEYRING_BACKEND={ENCRYPTED_BACKEND}"
    )


def _config_path() -> Path:
    from keyring.util import platform_

    return Path(platform_.config_root()) / "keyringrc.cfg"


def _run_with_timeout(fn: Callable[[], _T], timeout: float) -> _T:
    # A daemon thread per call, not an executor: a call hung on an unlock prompt must neither
    # block the caller past the timeout nor keep the interpreter from exiting.
    box: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()

    def run() -> None:
        try:
            box.put((True, fn()))
        except BaseException as exc:
            box.put((False, exc))

    threading.Thread(target=run, name="mcp-vault-keyring", daemon=True).start()
    try:
        ok, result = box.get(timeout=timeout)
    except queue.Empty:
        raise _TimedOut from None
    if ok:
        return result  # type: ignore[return-value]
    assert isinstance(result, BaseException)
    raise result


def _check_names(service: str, key: str) -> None:
    if not service or not key:
        raise UsageError("a keyring service and key must not be empty")


def _message(exc: BaseException, value: str = "") -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if value:
        text = text.replace(value, "***")
    return text


def _dotted_name(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"
