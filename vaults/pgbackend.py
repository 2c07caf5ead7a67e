"""The value backend of a PostgreSQL store: AES-GCM ciphertext in the store's own database.

The same scheme as the encrypted file backend (``vaults.cipher``: one data key, each value bound
to its row, a key check), so every replica reads the values any replica wrote, and the database
never sees a plaintext. The data key comes from a file, a systemd credential or the OS keyring
(``vaults.datakey``). The tables (``secret_values``, ``secret_meta``) belong to this backend, as
``secrets.db`` belongs to the file backend: it creates them on first use. Its connections are its
own (not the index's pool), because a value is written while the index's write transaction is
open on another connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import keyring.errors
import psycopg
from keyring.compat import properties
from psycopg_pool import ConnectionPool, PoolTimeout

from vaults.cipher import Cipher, CorruptSecretError, SealedKeyring
from vaults.datakey import ENV_VAR, KeySource
from vaults.index.postgres import CONNECT_TIMEOUT, POOL_TIMEOUT, describe, translate

_SCHEMA = (
    "SELECT pg_advisory_xact_lock(hashtext('mcp-vault:secret-tables:' || current_schema()))",
    "CREATE TABLE IF NOT EXISTS secret_values (service TEXT NOT NULL, username TEXT NOT NULL,"
    " nonce BYTEA NOT NULL, ciphertext BYTEA NOT NULL, PRIMARY KEY (service, username))",
    "CREATE TABLE IF NOT EXISTS secret_meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL)",
)


class PostgresKeyring(SealedKeyring):
    """Encrypted values in table ``secret_values`` of the database at ``url``.

    Not a backend keyring picks by itself (it is never viable on its own): a PostgreSQL store
    opens it with its URL and its key source.
    """

    table = "secret_values"

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("used by PostgreSQL stores only, with their URL and data key")

    def __init__(self, url: str, key_source: KeySource) -> None:
        super().__init__()
        self.url = url
        self.location = describe(url)
        self.key_source = key_source
        self._sealer: Cipher | None = None
        self._lock = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    @property
    def where(self) -> str:
        return self.location

    def _query(self, sql: str, params: Sequence[Any]) -> tuple[list[Any], int]:
        self._cipher()
        with self._session() as conn:
            try:
                cursor = conn.execute(translate(sql), tuple(params))
                return (cursor.fetchall() if cursor.description else []), cursor.rowcount
            except psycopg.Error as exc:
                text = " ".join(str(exc).split())
                raise keyring.errors.KeyringError(
                    f"the secret table in {self.location} failed ({text}); check the database "
                    "and MCP_VAULT_DATABASE_URL"
                ) from exc

    @contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.url,
                    kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
                    min_size=0,
                    max_size=4,
                    open=True,
                    check=ConnectionPool.check_connection,
                    timeout=POOL_TIMEOUT,
                    num_workers=1,
                    name="mcp-vault-secrets",
                )
            pool = self._pool
        try:
            with pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise keyring.errors.KeyringError(
                f"no connection to {self.location} within {POOL_TIMEOUT:g} s; check the "
                "database server"
            ) from exc

    def _cipher(self) -> Cipher:
        with self._lock:
            if self._sealer is None:
                self._sealer = self._initialise()
            return self._sealer

    def _initialise(self) -> Cipher:
        from vaults.index.postgres import connect

        conn = connect(self.url)
        try:
            with conn.transaction():
                for statement in _SCHEMA:
                    conn.execute(statement)
            row = conn.execute("SELECT value FROM secret_meta WHERE key = 'key_check'").fetchone()
            source = self.key_source
            if row is None:
                key = source.load() or (source.create() if source.create else None)
                if key is None:
                    raise CorruptSecretError(
                        f"no data key at {source.description}; provide it there, or set "
                        f"{ENV_VAR} to a key file"
                    )
                cipher = Cipher(key)
                conn.execute(
                    "INSERT INTO secret_meta (key, value) VALUES ('key_check', %s)"
                    " ON CONFLICT (key) DO NOTHING",
                    (cipher.key_check(),),
                )
                row = conn.execute(
                    "SELECT value FROM secret_meta WHERE key = 'key_check'"
                ).fetchone()
            else:
                key = source.load()
                if key is None:
                    raise CorruptSecretError(
                        f"this host has no data key for the values in {self.location} (none at "
                        f"{source.description}); copy the key file from a host that has it, or "
                        f"set {ENV_VAR} to its path"
                    )
                cipher = Cipher(key)
        except psycopg.Error as exc:
            raise keyring.errors.KeyringError(
                f"cannot prepare the secret table in {self.location}: "
                f"{' '.join(str(exc).split())}; check the database user's rights"
            ) from exc
        finally:
            conn.close()
        if row is None or not cipher.matches(row[0]):
            raise CorruptSecretError(
                f"the data key at {source.description} does not match the values in "
                f"{self.location}; give this host the key the other replicas use"
            )
        return cipher
