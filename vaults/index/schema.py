"""The index's tables, and the versioned migrations that bring any index to this version's schema.

Each migration is one entry of :data:`MIGRATIONS`, written once in SQLite's dialect; the
PostgreSQL engine maps its column types (``vaults.index.postgres``). The number applied is kept
by the engine (SQLite's ``PRAGMA user_version``, PostgreSQL's ``schema_migrations`` table). An
empty database gets every migration when it is opened. An older schema is upgraded when opened on
SQLite (one machine, as it always was); on PostgreSQL only by ``mcp-vault migrate``, because
replicas of two versions may share the database and the upgrade is the operator's step.
"""

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

# v3: the bridge as an OAuth authorization server (issue 11). A client is a token credential
# whose versions are its client secrets, marked by its ``oauth_clients`` row (so the rotation
# machine rotates a client secret as it rotates a token, and the verifier never takes a client
# secret for a bearer token). A grant is one consent (a refresh-token family); its access,
# refresh and authorization-code tokens are hashed in ``oauth_tokens``; an interactive client's
# request waits in ``oauth_requests`` for the operator's approval.
_V3 = """
CREATE TABLE oauth_clients (
    credential_id INTEGER PRIMARY KEY REFERENCES credentials(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL UNIQUE,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    grant_types TEXT NOT NULL DEFAULT '[]',
    auth_method TEXT NOT NULL
        CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    dynamic INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE oauth_grants (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    scopes TEXT NOT NULL DEFAULT '[]',
    resource TEXT,
    origin TEXT,
    created_at REAL NOT NULL,
    revoked_at REAL,
    revoked_why TEXT
);
CREATE TABLE oauth_tokens (
    kid TEXT PRIMARY KEY,
    grant_id INTEGER NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh', 'code')),
    hash BLOB NOT NULL,
    scopes TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);
CREATE TABLE oauth_requests (
    id TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    redirect_explicit INTEGER NOT NULL,
    code_challenge TEXT NOT NULL,
    scopes TEXT NOT NULL DEFAULT '[]',
    state TEXT,
    resource TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'issued')),
    grant_id INTEGER REFERENCES oauth_grants(id) ON DELETE SET NULL,
    requester TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
)
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: Database) -> int:
    """The number of migrations applied to ``db`` (0: empty)."""
    with db.read() as conn:
        return db.schema_version(conn)


def migrate(db: Database, *, upgrade: bool | None = None) -> tuple[int, int]:
    """Apply the migrations ``db`` lacks; returns the schema version before and after.

    ``upgrade`` says whether an older schema may be upgraded (default: the engine's policy, see
    the module docstring); StoreError saying to run ``mcp-vault migrate`` if not, and if the
    schema is newer than this code.
    """
    target = len(MIGRATIONS)
    current = schema_version(db)
    if current == target:
        return current, current
    with db.write() as conn:
        current = db.schema_version(conn)
        if current > target:
            raise StoreError(
                f"index {db.location} has schema v{current}, newer than this mcp-vault "
                f"understands (v{target}); upgrade mcp-vault"
            )
        if 0 < current < target and not (db.auto_upgrade if upgrade is None else upgrade):
            raise StoreError(
                f"index {db.location} has schema v{current}, this mcp-vault needs v{target}: "
                "run mcp-vault migrate once (from any host) when every replica runs a version "
                f"that knows v{target}"
            )
        for number in range(current, target):
            for statement in db.statements(MIGRATIONS[number]):
                conn.execute(statement)
            db.set_schema_version(conn, number + 1)
    return current, target
