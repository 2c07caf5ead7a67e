"""The SQLite index of the store: schema and migrations, transactions, and the queries.

It holds names, kinds, scopes, versions and states, token key ids and SHA-256 hashes, the rotation
journal, remote links and the audit trail. It never holds a secret value.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vaults.errors import NotFoundError, StoreError
from vaults.paths import ensure_private_file, make_private
from vaults.sqlite import enable_wal

FILENAME = "index.db"
BUSY_TIMEOUT_MS = 5000
LIVE_STATES = ("pending", "current", "previous")

_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE credentials (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('token', 'secret')),
    scopes TEXT NOT NULL DEFAULT '[]',
    rotate_every REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE versions (
    credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'current', 'previous', 'retired', 'revoked')),
    kid TEXT UNIQUE,
    hash BLOB,
    created_at REAL NOT NULL,
    not_after REAL,
    PRIMARY KEY (credential_id, version)
);
CREATE INDEX versions_state ON versions (state);
CREATE TABLE rotations (
    credential_id INTEGER PRIMARY KEY REFERENCES credentials(id) ON DELETE CASCADE,
    from_version INTEGER,
    to_version INTEGER NOT NULL,
    step TEXT NOT NULL CHECK (step IN ('create', 'push', 'test', 'finish')),
    grace REAL NOT NULL,
    owner TEXT NOT NULL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE links (
    id INTEGER PRIMARY KEY,
    credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    vault_id TEXT NOT NULL,
    remote_id TEXT,
    url TEXT NOT NULL,
    pushed_version INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (credential_id, kind, vault_id, url)
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    os_user TEXT NOT NULL,
    action TEXT NOT NULL,
    credential TEXT,
    version INTEGER,
    kid TEXT,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_at ON audit (at)
"""

MIGRATIONS: tuple[str, ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version of a credential; ``kid`` is set for tokens only."""

    version: int
    state: str
    kid: str | None
    created_at: datetime
    not_after: datetime | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = _iso(self.created_at)
        data["not_after"] = _iso(self.not_after)
        return data


@dataclass(frozen=True, slots=True)
class RotationInfo:
    """The journal row of a rotation in progress (or interrupted)."""

    from_version: int | None
    to_version: int
    step: str
    grace: float
    owner: str
    started_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = _iso(self.started_at)
        data["updated_at"] = _iso(self.updated_at)
        return data


@dataclass(frozen=True, slots=True)
class Link:
    """Where a credential's value is pushed on rotation (e.g. an Anthropic vault credential)."""

    id: int
    credential: str
    kind: str
    vault_id: str
    remote_id: str | None
    url: str
    pushed_version: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = _iso(self.created_at)
        data["updated_at"] = _iso(self.updated_at)
        return data


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What the index knows about a credential: never its value."""

    name: str
    kind: str
    scopes: tuple[str, ...]
    rotate_every: float | None
    created_at: datetime
    updated_at: datetime
    versions: tuple[VersionInfo, ...] = ()
    rotation: RotationInfo | None = None
    links: tuple[Link, ...] = ()
    id: int = field(default=0, repr=False, compare=False)

    @property
    def current(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.state == "current"), None)

    @property
    def pending(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.state == "pending"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "scopes": list(self.scopes),
            "rotate_every": self.rotate_every,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "versions": [v.to_dict() for v in self.versions],
            "rotation": self.rotation.to_dict() if self.rotation else None,
            "links": [link.to_dict() for link in self.links],
        }


@dataclass(frozen=True, slots=True)
class LiveToken:
    """A token version the verifier may accept, as loaded from the index."""

    kid: str
    hash: bytes = field(repr=False)
    state: str
    not_after: float | None
    scopes: tuple[str, ...]
    name: str
    version: int


def store_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """Translate a sqlite3 error into a StoreError that says how to fix it."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        hint = "another mcp-vault process holds it too long; try again"
    elif "readonly" in lowered or "read-only" in lowered:
        hint = "check that you own the store directory and its files (dir 0700, files 0600)"
    elif "unable to open" in lowered:
        hint = "check that the store directory exists and is yours (mcp-vault init creates it)"
    elif "not a database" in lowered or "malformed" in lowered:
        hint = "the file is damaged; move it aside and run mcp-vault init, or restore a backup"
    else:
        hint = "run mcp-vault doctor"
    return StoreError(f"index {path}: {text}; {hint}")


def connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing index with the store's pragmas (WAL, busy timeout)."""
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise store_error(exc, path) from exc
    return conn


def load_live_tokens(
    conn: sqlite3.Connection, accepted: Iterable[str] | None = None
) -> list[LiveToken]:
    """Every token version in a live state, optionally only of the ``accepted`` names."""
    sql = (
        "SELECT v.kid, v.hash, v.state, v.not_after, c.scopes, c.name, v.version "
        "FROM versions v JOIN credentials c ON c.id = v.credential_id "
        "WHERE v.kid IS NOT NULL AND v.state IN ('pending', 'current', 'previous')"
    )
    names = None if accepted is None else sorted(set(accepted))
    rows = conn.execute(sql).fetchall()
    return [
        LiveToken(kid, bytes(digest), state, not_after, tuple(json.loads(scopes)), name, version)
        for kid, digest, state, not_after, scopes, name, version in rows
        if names is None or name in names
    ]


class Index:
    """One connection to ``index.db``; callers wrap changes in ``with index.write():``."""

    def __init__(self, store_dir: Path, *, create: bool = True) -> None:
        self.path = store_dir / FILENAME
        fresh = not self.path.exists()
        if fresh:
            if not create:
                raise StoreError(
                    f"no vault store at {store_dir}: run mcp-vault init, "
                    "or point --store / MCP_VAULT_DIR at an existing store"
                )
            ensure_private_file(self.path)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = connect(self.path)
        try:
            enable_wal(self._conn)
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise store_error(exc, self.path) from exc
        except BaseException:
            self._conn.close()
            raise
        if fresh:
            # Later -wal/-shm files inherit the database file's mode from SQLite.
            for suffix in ("", "-wal", "-shm"):
                make_private(self.path.with_name(self.path.name + suffix))

    def close(self) -> None:
        self._conn.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.schema_version == SCHEMA_VERSION:
            return
        with self.write():
            current = self.schema_version
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"index {self.path} has schema v{current}, newer than this mcp-vault "
                    f"understands (v{SCHEMA_VERSION}); upgrade mcp-vault"
                )
            for number in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";\n"):
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction (nested uses join the outer one); rolls back on error."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(exc, self.path) from exc
            self._depth = 1
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(exc, self.path) from exc
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several queries."""
        with self._lock:
            if self._depth:
                yield self._conn
                return
            try:
                self._conn.execute("BEGIN")
            except sqlite3.Error as exc:
                raise store_error(exc, self.path) from exc
            self._depth = 1
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise store_error(exc, self.path) from exc
            finally:
                self._depth = 0
                self._rollback()

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the transaction is gone either way
                self._conn.execute("ROLLBACK")

    # --- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._q("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._q("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- credentials ------------------------------------------------------------------------

    def credential(self, name: str) -> CredentialInfo:
        """The credential ``name`` with its versions, rotation and links; NotFoundError if none."""
        row = self._q(
            "SELECT id, name, kind, scopes, rotate_every, created_at, updated_at "
            "FROM credentials WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"no credential named {name!r}; see mcp-vault list for the names", name=name
            )
        return self._info(row)

    def has_credential(self, name: str) -> bool:
        return self._q("SELECT 1 FROM credentials WHERE name = ?", (name,)).fetchone() is not None

    def credentials(self) -> list[CredentialInfo]:
        rows = self._q(
            "SELECT id, name, kind, scopes, rotate_every, created_at, updated_at "
            "FROM credentials ORDER BY name"
        ).fetchall()
        return [self._info(row) for row in rows]

    def _info(self, row: tuple[Any, ...]) -> CredentialInfo:
        cid, name, kind, scopes, rotate_every, created_at, updated_at = row
        return CredentialInfo(
            name=name,
            kind=kind,
            scopes=tuple(json.loads(scopes)),
            rotate_every=rotate_every,
            created_at=datetime.fromtimestamp(created_at, UTC),
            updated_at=datetime.fromtimestamp(updated_at, UTC),
            versions=tuple(self.versions(cid)),
            rotation=self.rotation(cid),
            links=tuple(self.links(cid)),
            id=cid,
        )

    def insert_credential(
        self, name: str, kind: str, scopes: Iterable[str], rotate_every: float | None, now: float
    ) -> int:
        cursor = self._q(
            "INSERT INTO credentials (name, kind, scopes, rotate_every, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, kind, json.dumps(list(scopes)), rotate_every, now, now),
        )
        return int(cursor.lastrowid or 0)

    def touch_credential(self, credential_id: int, now: float) -> None:
        self._q("UPDATE credentials SET updated_at = ? WHERE id = ?", (now, credential_id))

    def delete_credential(self, credential_id: int) -> None:
        self._q("DELETE FROM credentials WHERE id = ?", (credential_id,))

    # --- versions ---------------------------------------------------------------------------

    def versions(self, credential_id: int) -> list[VersionInfo]:
        rows = self._q(
            "SELECT version, state, kid, created_at, not_after FROM versions "
            "WHERE credential_id = ? ORDER BY version DESC",
            (credential_id,),
        ).fetchall()
        return [
            VersionInfo(version, state, kid, datetime.fromtimestamp(created, UTC), _dt(not_after))
            for version, state, kid, created, not_after in rows
        ]

    def next_version(self, credential_id: int) -> int:
        row = self._q(
            "SELECT COALESCE(MAX(version), 0) FROM versions WHERE credential_id = ?",
            (credential_id,),
        ).fetchone()
        return int(row[0]) + 1

    def insert_version(
        self,
        credential_id: int,
        version: int,
        state: str,
        kid: str | None,
        digest: bytes | None,
        now: float,
    ) -> None:
        self._q(
            "INSERT INTO versions (credential_id, version, state, kid, hash, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (credential_id, version, state, kid, digest, now),
        )

    def set_state(
        self, credential_id: int, version: int, state: str, not_after: float | None = None
    ) -> None:
        self._q(
            "UPDATE versions SET state = ?, not_after = ? WHERE credential_id = ? AND version = ?",
            (state, not_after, credential_id, version),
        )

    # --- rotation journal ---------------------------------------------------------------------

    def rotation(self, credential_id: int) -> RotationInfo | None:
        row = self._q(
            "SELECT from_version, to_version, step, grace, owner, started_at, updated_at "
            "FROM rotations WHERE credential_id = ?",
            (credential_id,),
        ).fetchone()
        if row is None:
            return None
        from_version, to_version, step, grace, owner, started_at, updated_at = row
        return RotationInfo(
            from_version,
            to_version,
            step,
            grace,
            owner,
            datetime.fromtimestamp(started_at, UTC),
            datetime.fromtimestamp(updated_at, UTC),
        )

    def insert_rotation(
        self,
        credential_id: int,
        from_version: int | None,
        to_version: int,
        grace: float,
        owner: str,
        now: float,
    ) -> None:
        self._q(
            "INSERT INTO rotations (credential_id, from_version, to_version, step, grace, owner, "
            "started_at, updated_at) VALUES (?, ?, ?, 'create', ?, ?, ?, ?)",
            (credential_id, from_version, to_version, grace, owner, now, now),
        )

    def update_rotation(
        self, credential_id: int, now: float, *, step: str | None = None, owner: str | None = None
    ) -> None:
        self._q(
            "UPDATE rotations SET step = COALESCE(?, step), owner = COALESCE(?, owner), "
            "updated_at = ? WHERE credential_id = ?",
            (step, owner, now, credential_id),
        )

    def delete_rotation(self, credential_id: int) -> None:
        self._q("DELETE FROM rotations WHERE credential_id = ?", (credential_id,))

    # --- links --------------------------------------------------------------------------------

    _LINK_SQL = (
        "SELECT l.id, c.name, l.kind, l.vault_id, l.remote_id, l.url, l.pushed_version, "
        "l.created_at, l.updated_at FROM links l JOIN credentials c ON c.id = l.credential_id"
    )

    def links(self, credential_id: int | None = None) -> list[Link]:
        if credential_id is None:
            rows = self._q(f"{self._LINK_SQL} ORDER BY c.name, l.id").fetchall()
        else:
            rows = self._q(
                f"{self._LINK_SQL} WHERE l.credential_id = ? ORDER BY l.id", (credential_id,)
            ).fetchall()
        return [self._link(row) for row in rows]

    def link(self, link_id: int) -> Link:
        row = self._q(f"{self._LINK_SQL} WHERE l.id = ?", (link_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no link with id {link_id}; see mcp-vault show NAME --json")
        return self._link(row)

    @staticmethod
    def _link(row: tuple[Any, ...]) -> Link:
        lid, name, kind, vault_id, remote_id, url, pushed, created_at, updated_at = row
        return Link(
            lid,
            name,
            kind,
            vault_id,
            remote_id,
            url,
            pushed,
            datetime.fromtimestamp(created_at, UTC),
            datetime.fromtimestamp(updated_at, UTC),
        )

    def insert_link(
        self,
        credential_id: int,
        kind: str,
        vault_id: str,
        url: str,
        remote_id: str | None,
        now: float,
    ) -> int:
        cursor = self._q(
            "INSERT INTO links (credential_id, kind, vault_id, remote_id, url, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (credential_id, kind, vault_id, remote_id, url, now, now),
        )
        return int(cursor.lastrowid or 0)

    def update_link(self, link_id: int, now: float, **changes: Any) -> None:
        allowed = {"vault_id", "remote_id", "url", "pushed_version"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot update link fields {sorted(unknown)}")
        if not changes:
            return
        columns = ", ".join(f"{column} = ?" for column in changes)
        self._q(
            f"UPDATE links SET {columns}, updated_at = ? WHERE id = ?",  # noqa: S608 - fixed names
            (*changes.values(), now, link_id),
        )

    def delete_link(self, link_id: int) -> None:
        self._q("DELETE FROM links WHERE id = ?", (link_id,))

    # --- plumbing -----------------------------------------------------------------------------

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Run one statement on this connection (inside the caller's transaction, if any)."""
        return self._q(sql, params)

    def _q(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from exc
