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
from pathlib import Path

import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
