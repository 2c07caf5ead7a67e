"""The SQLite index of the store: one module per table, the connection and the schema apart.

It holds names, kinds, scopes, versions and states, token key ids and SHA-256 hashes, the rotation
journal, remote links and the audit trail. It never holds a secret value. ``Index`` opens (and
migrates) the file and gives one object per table: ``index.credentials.get(name)``,
``index.versions.insert(...)``, ``index.rotations``, ``index.links``, ``index.pushes``,
``index.meta``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vaults.errors import IndexDamageError, StoreError
from vaults.index import wal
from vaults.index.credentials import Credentials
from vaults.index.database import BUSY_TIMEOUT_MS, Database, connect, store_error
from vaults.index.links import Links
from vaults.index.meta import Meta
from vaults.index.pushes import Pushes
from vaults.index.records import (
    CredentialInfo,
    Link,
    LiveToken,
    Push,
    Record,
    RotationInfo,
    VersionInfo,
    moment,
    period,
    stamp,
)
from vaults.index.rotations import Rotations
from vaults.index.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version
from vaults.index.versions import LIVE_STATES, Versions, load_live_tokens
from vaults.index.wal import WalDamage
from vaults.paths import ensure_private_file, make_private
from vaults.sqlite import enable_wal

FILENAME = "index.db"

__all__ = [
    "BUSY_TIMEOUT_MS",
    "FILENAME",
    "LIVE_STATES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CredentialInfo",
    "Database",
    "Index",
    "Link",
    "LiveToken",
    "Push",
    "Record",
    "RotationInfo",
    "VersionInfo",
    "WalDamage",
    "connect",
    "load_live_tokens",
    "moment",
    "period",
    "stamp",
    "store_error",
]


class Index(Database):
    """``index.db`` of a store directory, migrated; callers wrap changes in ``index.write()``.

    Before SQLite opens the file, its write-ahead log is checked (``wal``): a damaged one is an
    IndexDamageError, unless ``accept_wal_loss``, in which case the state before the damage is
    kept for good and ``accepted_loss`` says what was dropped.
    """

    def __init__(
        self, store_dir: Path, *, create: bool = True, accept_wal_loss: bool = False
    ) -> None:
        path = store_dir / FILENAME
        fresh = not path.exists()
        if fresh:
            if not create:
                raise StoreError(
                    f"no vault store at {store_dir}: run mcp-vault init, "
                    "or point --store / MCP_VAULT_DIR at an existing store"
                )
            ensure_private_file(path)
        self.accepted_loss = None if fresh else _check_wal(path, accept=accept_wal_loss)
        super().__init__(path)
        try:
            enable_wal(self._conn)
            migrate(self)
        except sqlite3.Error as exc:
            self.close()
            raise store_error(exc, path) from exc
        except BaseException:
            self.close()
            raise
        if fresh:
            # Later -wal/-shm files inherit the database file's mode from SQLite.
            for suffix in ("", "-wal", "-shm"):
                make_private(path.with_name(path.name + suffix))
        self.meta = Meta(self)
        self.versions = Versions(self)
        self.rotations = Rotations(self)
        self.links = Links(self)
        self.pushes = Pushes(self, self.links)
        self.credentials = Credentials(self, self.versions, self.rotations, self.links)

    @property
    def schema_version(self) -> int:
        return schema_version(self)


def _check_wal(path: Path, *, accept: bool) -> WalDamage | None:
    damage = wal.check(path)
    if damage is None:
        return None
    lost = (
        f"{damage.frames} frames ({damage.transactions} committed transactions) from frame "
        f"{damage.first_frame} on"
    )
    if not accept:
        raise IndexDamageError(
            f"index {wal.wal_path(path)} is damaged: SQLite would silently drop {lost}, and the "
            "store would look older than it is; restore the store directory from a backup, or "
            "keep the state before the damage with mcp-vault doctor --accept-wal-loss",
            frames=damage.frames,
            transactions=damage.transactions,
        )
    try:
        wal.accept_loss(path, BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StoreError(
            f"index {path}: cannot drop the damaged log ({exc}); stop the bridge and every other "
            "mcp-vault using this store, then retry"
        ) from exc
    return damage
