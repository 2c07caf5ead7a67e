"""The encryption of stored values: AES-GCM under a 256-bit data key, each value bound to its row.

Both of the project's value backends use it: the encrypted file backend (``vaults.backend``,
SQLite) and the PostgreSQL one (``vaults.pgbackend``). A value's associated data is its
``(service, username)``, so a ciphertext moved to another row does not decrypt; a key check
(a known plaintext sealed once per database) tells a wrong key from damaged data.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential

from vaults.errors import BackendCorruptError

KEY_BYTES = 32
NONCE_BYTES = 12
_AD_PREFIX = b"mcp-vault-secret-v1\x00"
_CHECK_AD = b"mcp-vault-key-check-v1"
_CHECK_PLAINTEXT = b"mcp-vault key check"


class CorruptSecretError(BackendCorruptError, keyring.errors.KeyringError):
    """A value (or the key file) cannot be decrypted or parsed.

    It is both a ``keyring.errors.KeyringError`` (what keyring callers expect) and a
    ``vaults.errors.BackendCorruptError`` (what the vault manager's callers expect).
    """


class Cipher:
    """Seals and opens values under one data key; never holds a plaintext."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Cipher(...)"

    def seal(self, service: str, username: str, value: str) -> tuple[bytes, bytes]:
        """``(nonce, ciphertext)`` of ``value`` for the row ``(service, username)``."""
        nonce = os.urandom(NONCE_BYTES)
        data = value.encode("utf-8", "surrogatepass")
        return nonce, self._aead.encrypt(nonce, data, _associated_data(service, username))

    def open(self, service: str, username: str, nonce: bytes, ciphertext: bytes) -> str | None:
        """The value sealed for ``(service, username)``; None if it does not decrypt."""
        try:
            data = self._aead.decrypt(
                bytes(nonce), bytes(ciphertext), _associated_data(service, username)
            )
            return data.decode("utf-8", "surrogatepass")
        except (InvalidTag, ValueError):
            return None

    def key_check(self) -> bytes:
        """A fresh key check to store beside the values."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, _CHECK_PLAINTEXT, _CHECK_AD)

    def matches(self, check: bytes) -> bool:
        """Whether ``check`` was sealed under this key."""
        stored = bytes(check)
        try:
            self._aead.decrypt(stored[:NONCE_BYTES], stored[NONCE_BYTES:], _CHECK_AD)
        except InvalidTag:
            return False
        return True


class SealedKeyring(KeyringBackend):
    """A keyring backend over one table of sealed values (service, username, nonce, ciphertext).

    Subclasses name the ``table``, run one statement (``?`` placeholders) in ``_query``, hand
    out the ``Cipher`` of their data key and say ``where`` they are for messages.
    """

    table: ClassVar[str]

    @property
    def where(self) -> str:
        raise NotImplementedError

    def _cipher(self) -> Cipher:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any]) -> tuple[list[Any], int]:
        """The rows and the row count of one statement."""
        raise NotImplementedError

    def get_password(self, service: str, username: str) -> str | None:
        rows, _ = self._query(
            f"SELECT nonce, ciphertext FROM {self.table} WHERE service = ? AND username = ?",  # noqa: S608 - a fixed name
            (service, username),
        )
        return self._open(service, username, *rows[0]) if rows else None

    def set_password(self, service: str, username: str, password: str) -> None:
        nonce, ciphertext = self._cipher().seal(service, username, password)
        self._query(
            f"INSERT INTO {self.table} (service, username, nonce, ciphertext) VALUES (?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (service, username) DO UPDATE"
            " SET nonce = excluded.nonce, ciphertext = excluded.ciphertext",
            (service, username, nonce, ciphertext),
        )

    def delete_password(self, service: str, username: str) -> None:
        _, deleted = self._query(
            f"DELETE FROM {self.table} WHERE service = ? AND username = ?",  # noqa: S608
            (service, username),
        )
        if deleted == 0:
            raise keyring.errors.PasswordDeleteError("no such secret")

    def get_credential(self, service: str, username: str | None) -> SimpleCredential | None:
        if username is not None:
            password = self.get_password(service, username)
            return None if password is None else SimpleCredential(username, password)
        rows, _ = self._query(
            f"SELECT username, nonce, ciphertext FROM {self.table} WHERE service = ?"  # noqa: S608
            " ORDER BY username LIMIT 1",
            (service,),
        )
        if not rows:
            return None
        name, nonce, ciphertext = rows[0]
        return SimpleCredential(name, self._open(service, name, nonce, ciphertext))

    def _open(self, service: str, username: str, nonce: bytes, ciphertext: bytes) -> str:
        value = self._cipher().open(service, username, nonce, ciphertext)
        if value is None:
            raise CorruptSecretError(
                f"the secret {username!r} of {service!r} in {self.where} cannot be decrypted "
                "(damaged data or a different key); restore it from a backup or set it again"
            )
        return value


def _associated_data(service: str, username: str) -> bytes:
    # Binds a ciphertext to its row so rows cannot be swapped or renamed.
    return _AD_PREFIX + json.dumps([service, username]).encode()


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def parse_key(raw: bytes, where: object) -> bytes:
    """A data key as stored: 32 raw bytes, or their base64 (how a systemd credential is often
    written); CorruptSecretError naming ``where`` otherwise."""
    if len(raw) == KEY_BYTES:
        return raw
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        decoded = b""
    if len(decoded) == KEY_BYTES:
        return decoded
    raise CorruptSecretError(
        f"the data key {where} is not a 256-bit key (32 bytes, or their base64); restore the "
        "original key file"
    )


def create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` (0600) unless a key is already there."""
    # Write the key under a private temporary name, then link it into place: link() fails if the
    # name exists, so of two racing processes exactly one key wins and nobody reads a half file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_key())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
