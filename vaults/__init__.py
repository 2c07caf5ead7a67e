"""The vault manager: keyring-backed bridge tokens and tool secrets, rotation, audit.

The index (SQLite, or PostgreSQL for several bridge replicas) never holds a value; values live in
the keyring (a PostgreSQL store keeps them in its database, AES-GCM encrypted). ``Store`` is the
library API (the lower layer); ``rotate`` / ``rotate_due`` are the rotation service on top of it,
``TokenIndex`` verifies bridge tokens in memory and ``StoreSecrets`` serves tool secrets.

This package never imports ``bridge`` (an import-linter contract): where ``mcp-vault`` needs the
bridge's public URL from its config file, it asks a plugin through the ``mcp_vault.public_url``
entry point (``vaults.public_url``), which the bridge registers.
"""

from __future__ import annotations

from vaults.audit import AuditRow
from vaults.doctor import Check
from vaults.errors import (
    AlreadyExistsError,
    AuditError,
    BackendCorruptError,
    IndexDamageError,
    KeyringError,
    KeyringLockedError,
    KeyringUnavailableError,
    NotFoundError,
    PushError,
    RemoteError,
    RotationError,
    RotationInProgressError,
    StoreError,
    UsageError,
    VaultError,
)
from vaults.index import CredentialInfo, Link, RotationInfo, VersionInfo
from vaults.paths import default_store_dir, resolve_store_dir
from vaults.resolver import StoreSecrets
from vaults.rotation import (
    Pusher,
    RotationResult,
    register_pusher,
    rotate,
    rotate_due,
    unregister_pusher,
)
from vaults.store import Minted, Store
from vaults.tokens import ParsedToken, hash_secret, parse
from vaults.verifier import Principal, TokenIndex

__all__ = [
    "AlreadyExistsError",
    "AuditError",
    "AuditRow",
    "BackendCorruptError",
    "Check",
    "CredentialInfo",
    "IndexDamageError",
    "KeyringError",
    "KeyringLockedError",
    "KeyringUnavailableError",
    "Link",
    "Minted",
    "NotFoundError",
    "ParsedToken",
    "Principal",
    "PushError",
    "Pusher",
    "RemoteError",
    "RotationError",
    "RotationInProgressError",
    "RotationInfo",
    "RotationResult",
    "Store",
    "StoreError",
    "StoreSecrets",
    "TokenIndex",
    "UsageError",
    "VaultError",
    "VersionInfo",
    "default_store_dir",
    "hash_secret",
    "parse",
    "register_pusher",
    "resolve_store_dir",
    "rotate",
    "rotate_due",
    "unregister_pusher",
]
