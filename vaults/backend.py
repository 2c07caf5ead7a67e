"""The project's own keyring backend: AES-GCM encrypted values in SQLite, for headless machines.

Why not ``keyrings.alt`` or ``keyrings.cryptfile``: measured on the target machines, their file
backends lose writes (or the whole file) when two processes write at once, keyrings.alt relies
on unauthenticated AES-CFB with a weak KDF, and cryptfile spends ~300 ms of Argon2 per call.
Here SQLite (WAL, busy timeout) gives atomic, concurrent-safe writes, and a random data key in a
0600 file (or systemd's ``$CREDENTIALS_DIRECTORY/mcp-vault.key``) needs no KDF at all.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keyring.errors
from keyring.compat import properties

from vaults.cipher import Cipher, CorruptSecretError, SealedKeyring, create_key_file, parse_key
from vaults.paths import resolve_store_dir
from vaults.sqlite import enable_wal

__all__ = ["CREDENTIAL_NAME", "DB_NAME", "KEY_NAME", "CorruptSecretError", "EncryptedKeyring"]

DB_NAME = "secrets.db"
KEY_NAME = "secrets.key"
CREDENTIAL_NAME = "mcp-vault.key"

_BUSY_TIMEOUT_S = 10.0
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS secrets ("
    " service TEXT NOT NULL, username TEXT NOT NULL, nonce BLOB NOT NULL,"
    " ciphertext BLOB NOT NULL, PRIMARY KEY (service, username))",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
)


class EncryptedKeyring(SealedKeyring):
    """AES-GCM encrypted secrets in ``secrets.db`` under the store directory.

    The store directory is the constructor argument, else ``MCP_VAULT_DIR``, else the per-user
    data directory. The 256-bit data key comes from ``$CREDENTIALS_DIRECTORY/mcp-vault.key``
    when systemd provides one, else from ``secrets.key`` in the store directory (created on
    first use, 0600). A value that cannot be decrypted raises ``CorruptSecretError``; it never
    reads as missing. Its priority (0.5) keeps it viable for keyring's own detection but below
    every system keyring, which all rank 1 or higher.
    """

    table = "secrets"

    @properties.classproperty
    def priority(cls) -> float:
        return 0.5

    def __init__(self, store_dir: Path | str | None = None) -> None:
        super().__init__()
        self.store_dir = resolve_store_dir(store_dir)
        self._sealer: Cipher | None = None
        self._init_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store_dir={str(self.store_dir)!r})"

    def __copy__(self) -> EncryptedKeyring:
        # with_properties() copies the backend; the copy shares no lock with the original.
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._init_lock = threading.Lock()
        return clone

    @property
    def db_path(self) -> Path:
        return self.store_dir / DB_NAME

    @property
    def key_path(self) -> Path:
        """Where the data key is read from (systemd credential first, then the store dir)."""
        return self._key_source()[0]

    def _key_source(self) -> tuple[Path, bool]:
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        if creds:
            candidate = Path(creds) / CREDENTIAL_NAME
            if candidate.is_file():
                return candidate, True
        return self.store_dir / KEY_NAME, False

    @property
    def where(self) -> str:
        return str(self.db_path)

    def _query(self, sql: str, params: Sequence[Any]) -> tuple[list[Any], int]:
        with self._connect() as db:
            cursor = db.execute(sql, params)
            return cursor.fetchall(), cursor.rowcount

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self._cipher()
        try:
            db = sqlite3.connect(self.db_path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise _store_error(exc, self.db_path) from exc
        try:
            yield db
        except sqlite3.Error as exc:
            raise _store_error(exc, self.db_path) from exc
        finally:
            db.close()

    def _cipher(self) -> Cipher:
        with self._init_lock:
            if self._sealer is None:
                self._sealer = self._initialise()
            return self._sealer

    def _initialise(self) -> Cipher:
        key_path, provided = self._key_source()
        try:
            _ensure_private_dir(self.store_dir)
            if not provided and not key_path.exists():
                if self.db_path.exists() and self.db_path.stat().st_size > 0:
                    raise CorruptSecretError(
                        f"the data key for {self.db_path} is missing (no {key_path}, no "
                        f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}); restore the key file or "
                        "provide the systemd credential"
                    )
                create_key_file(key_path)
            cipher = Cipher(parse_key(key_path.read_bytes(), key_path))
            _ensure_private_file(self.db_path)
        except OSError as exc:
            raise keyring.errors.KeyringError(
                f"cannot prepare the encrypted secret store in {self.store_dir}: "
                f"{exc.strerror or exc}; check the owner and permissions of its files"
            ) from exc
        try:
            db = sqlite3.connect(self.db_path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            try:
                enable_wal(db)
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('key_check', ?)",
                    (cipher.key_check(),),
                )
                row = db.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise _store_error(exc, self.db_path) from exc
        if not cipher.matches(row[0]):
            raise CorruptSecretError(
                f"the data key {key_path} does not match {self.db_path}; restore the "
                "original key file (or CREDENTIALS_DIRECTORY credential)"
            )
        return cipher


def _store_error(exc: sqlite3.Error, path: Path) -> keyring.errors.KeyringError:
    if isinstance(exc, sqlite3.OperationalError):
        return keyring.errors.KeyringError(
            f"the encrypted secret store {path} failed ({exc}); check the file's owner and "
            "permissions, and that no other process holds it locked"
        )
    return CorruptSecretError(
        f"the encrypted secret store {path} is damaged ({exc}); restore it from a backup or "
        "move it away"
    )


def _ensure_private_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)


def _ensure_private_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
