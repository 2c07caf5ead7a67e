"""Where a PostgreSQL store's data key comes from: the key its values are encrypted under.

Every replica of a fleet needs the same key; the database holds only ciphertext and a key check.
One precedence, implemented in :func:`key_source`:

1. ``MCP_VAULT_DATA_KEY``: the path of a key file, or the word ``keyring`` for the OS keyring
   (through keyring's own backend choice; entry ``data-key`` of service ``mcp-vault``);
2. systemd's ``$CREDENTIALS_DIRECTORY/mcp-vault.key`` (``LoadCredential=mcp-vault.key:...``);
3. ``secrets.key`` in the store directory.

A key file holds 32 random bytes (or their base64) and is 0600. A new key is made only while the
database has no key check yet (the first ``mcp-vault init``): in the file named (or the default
one), or as a new keyring entry; a systemd credential is never written. The key is never taken
from an environment variable's value: the bridge's tool processes inherit its environment.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vaults.cipher import create_key_file, new_key, parse_key
from vaults.errors import KeyringError

ENV_VAR = "MCP_VAULT_DATA_KEY"
KEYRING = "keyring"
KEY_NAME = "secrets.key"
CREDENTIAL_NAME = "mcp-vault.key"
KEYRING_SERVICE = "mcp-vault"
KEYRING_KEY = "data-key"


class Keyring(Protocol):
    """What a data key needs of the OS keyring (``vaults.keyrings.SecretBackend`` is one)."""

    def get(self, service: str, key: str) -> str | None: ...

    def set(self, service: str, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class KeySource:
    """One place a data key is read from (and maybe made in); ``description`` names it."""

    description: str
    load: Callable[[], bytes | None]
    create: Callable[[], bytes] | None = None


def key_source(store_dir: Path, *, keyring: Callable[[], Keyring]) -> KeySource:
    """The source of the data key of the store in ``store_dir`` (see the module docstring);
    ``keyring`` opens the OS keyring when ``MCP_VAULT_DATA_KEY=keyring`` asks for it."""
    chosen = os.environ.get(ENV_VAR, "").strip()
    if chosen == KEYRING:
        return _keyring_source(keyring, KEYRING_SERVICE)
    if chosen:
        return _file_source(Path(chosen).expanduser(), f"file {chosen} ({ENV_VAR})")
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / CREDENTIAL_NAME).is_file():
        path = Path(creds) / CREDENTIAL_NAME
        return KeySource(f"systemd credential {path}", lambda: _read(path))
    return _file_source(store_dir / KEY_NAME, f"file {store_dir / KEY_NAME}")


def _file_source(path: Path, description: str) -> KeySource:
    def create() -> bytes:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            create_key_file(path)
        except OSError as exc:
            raise KeyringError(
                f"cannot create the data key {path}: {exc.strerror or exc}; check the "
                f"permissions of {path.parent}, or point {ENV_VAR} at another file"
            ) from exc
        key = _read(path)
        assert key is not None
        return key

    return KeySource(description, lambda: _read(path), create)


def _read(path: Path) -> bytes | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyringError(
            f"cannot read the data key {path}: {exc.strerror or exc}; check its owner and "
            "permissions (0600, owned by the user running mcp-vault)"
        ) from exc
    return parse_key(raw, path)


def _keyring_source(open_keyring: Callable[[], Keyring], service: str) -> KeySource:
    backend: list[Keyring] = []

    def opened() -> Keyring:
        if not backend:
            backend.append(open_keyring())
        return backend[0]

    def load() -> bytes | None:
        text = opened().get(service, KEYRING_KEY)
        return None if text is None else parse_key(text.encode(), f"in the keyring ({service})")

    def create() -> bytes:
        found = load()
        if found is not None:
            return found
        opened().set(service, KEYRING_KEY, base64.b64encode(new_key()).decode())
        made = load()
        assert made is not None
        return made

    return KeySource(f"the OS keyring (service {service}, entry {KEYRING_KEY})", load, create)
