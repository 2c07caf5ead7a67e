"""The index's tables, and migrating an index to this version's schema (``PRAGMA user_version``)."""

from __future__ import annotations

from vaults.errors import StoreError
from vaults.index.database import Database

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

# v2: a secret's new value may come from a registered generator (``credentials.generator``), and
# each push of a version to a link is recorded with what it made remotely (``pushes``), so that
# a link kind can undo it when the version retires (e.g. archive a tunnel's old CA certificate).
_V2 = """
ALTER TABLE credentials ADD COLUMN generator TEXT;
CREATE TABLE pushes (
    link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    remote_ref TEXT,
    pushed_at REAL NOT NULL,
    retired_at REAL,
    PRIMARY KEY (link_id, version)
)
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: Database) -> int:
    """The schema version the index at ``db`` is at (0: empty)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database) -> None:
    """Bring the index to :data:`SCHEMA_VERSION`; StoreError if it is newer than this code."""
    if schema_version(db) == SCHEMA_VERSION:
        return
    with db.write() as conn:
        current = schema_version(db)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"index {db.path} has schema v{current}, newer than this mcp-vault "
                f"understands (v{SCHEMA_VERSION}); upgrade mcp-vault"
            )
        for number in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";\n"):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
