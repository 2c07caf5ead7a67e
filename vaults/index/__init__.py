"""The index of the store: one module per table, the engines and the schema apart.

It holds names, kinds, scopes, versions and states, token key ids and SHA-256 hashes, the rotation
journal, remote links and the audit trail. It never holds a secret value. ``Index`` opens (and
migrates) the database, SQLite in the store directory (``sqlite``) or PostgreSQL at a URL
(``postgres``), both behind ``database.Database``, and gives one object per table:
``index.credentials.get(name)``, ``index.versions.insert(...)``, ``index.rotations``,
``index.links``, ``index.pushes``, ``index.meta``, and the OAuth tables
(``index.oauth_clients``, ``oauth_grants``, ``oauth_tokens``, ``oauth_requests``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from vaults.errors import StoreError
from vaults.index.credentials import Credentials
from vaults.index.database import Changes, Connection, Cursor, Database, Hold
from vaults.index.links import Links
from vaults.index.meta import Meta
from vaults.index.oauth_clients import OAuthClient, OAuthClients
from vaults.index.oauth_grants import Grant, OAuthGrants
from vaults.index.oauth_requests import OAuthRequests, RequestRow
from vaults.index.oauth_tokens import ACCESS_STATE, OAuthTokens, TokenRow
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
from vaults.index.sqlite import BUSY_TIMEOUT_MS, FILENAME, SqliteDatabase, connect, store_error
from vaults.index.versions import LIVE_STATES, Versions, load_live_tokens
from vaults.index.wal import WalDamage

__all__ = [
    "ACCESS_STATE",
    "BUSY_TIMEOUT_MS",
    "FILENAME",
    "LIVE_STATES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Changes",
    "Connection",
    "CredentialInfo",
    "Cursor",
    "Database",
    "Grant",
    "Hold",
    "Index",
    "Link",
    "LiveToken",
    "OAuthClient",
    "Push",
    "Record",
    "RequestRow",
    "RotationInfo",
    "TokenRow",
    "VersionInfo",
    "WalDamage",
    "connect",
    "load_live_tokens",
    "moment",
    "open_database",
    "period",
    "stamp",
    "store_error",
]


def open_database(
    store_dir: Path,
    database_url: str | None = None,
    *,
    create: bool = True,
    accept_wal_loss: bool = False,
) -> tuple[Database, WalDamage | None]:
    """The database of a store, not migrated yet: PostgreSQL at ``database_url`` if given,
    else ``index.db`` in ``store_dir``; and the WAL damage accepted (SQLite)."""
    if database_url:
        from vaults.index.postgres import PostgresDatabase

        return PostgresDatabase(database_url), None
    return SqliteDatabase.open(store_dir, create=create, accept_wal_loss=accept_wal_loss)


class Index:
    """A store's index, migrated (see ``schema``); callers wrap changes in ``index.write()``.

    ``accepted_loss`` says what a damaged SQLite log lost when ``accept_wal_loss`` kept the
    state before it; ``upgraded`` the schema versions before and after opening.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        database_url: str | None = None,
        create: bool = True,
        accept_wal_loss: bool = False,
        upgrade: bool | None = None,
    ) -> None:
        self.db, self.accepted_loss = open_database(
            store_dir, database_url, create=create, accept_wal_loss=accept_wal_loss
        )
        try:
            if not create and self.db.engine != "sqlite" and schema_version(self.db) == 0:
                raise StoreError(
                    f"no vault store in {self.db.location}: run mcp-vault init, or point "
                    "MCP_VAULT_DATABASE_URL at the database the store is in"
                )
            self.upgraded = migrate(self.db, upgrade=upgrade)
        except BaseException:
            self.db.close()
            raise
        self.meta = Meta(self.db)
        self.versions = Versions(self.db)
        self.rotations = Rotations(self.db)
        self.links = Links(self.db)
        self.pushes = Pushes(self.db, self.links)
        self.credentials = Credentials(self.db, self.versions, self.rotations, self.links)
        self.oauth_clients = OAuthClients(self.db)
        self.oauth_grants = OAuthGrants(self.db)
        self.oauth_tokens = OAuthTokens(self.db)
        self.oauth_requests = OAuthRequests(self.db)

    @property
    def engine(self) -> str:
        return self.db.engine

    @property
    def location(self) -> str:
        """Where the index is, as messages name it (a path, or a URL without password)."""
        return self.db.location

    @property
    def path(self) -> Path | None:
        """The SQLite file (None on PostgreSQL)."""
        return self.db.path

    @property
    def schema_version(self) -> int:
        return schema_version(self.db)

    def close(self) -> None:
        self.db.close()

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction (see ``Database.write``)."""
        return self.db.write()

    def read(self) -> AbstractContextManager[Connection]:
        """A consistent snapshot (see ``Database.read``)."""
        return self.db.read()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.db.execute(sql, params)

    def hold(self, key: str) -> Hold | None:
        """Take ``key`` across processes (see ``Hold``), or None if another process has it."""
        return self.db.hold(key)
