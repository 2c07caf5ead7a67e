"""The ``versions`` table: each credential's numbered versions, their states and token hashes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from vaults.index.database import Connection, Database
from vaults.index.oauth_tokens import load_access_tokens
from vaults.index.records import LiveToken, VersionInfo, moment, optional_moment

LIVE_STATES = ("pending", "current", "previous")


class Versions:
    """Queries of the ``versions`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def of(self, credential_id: int) -> list[VersionInfo]:
        """The versions of one credential, newest first."""
        rows = self._db.execute(
            "SELECT version, state, kid, created_at, not_after FROM versions "
            "WHERE credential_id = ? ORDER BY version DESC",
            (credential_id,),
        ).fetchall()
        return [
            VersionInfo(version, state, kid, moment(created), optional_moment(not_after))
            for version, state, kid, created, not_after in rows
        ]

    def next_number(self, credential_id: int) -> int:
        row = self._db.execute(
            "SELECT COALESCE(MAX(version), 0) FROM versions WHERE credential_id = ?",
            (credential_id,),
        ).fetchone()
        return int(row[0]) + 1

    def insert(
        self,
        credential_id: int,
        version: int,
        state: str,
        kid: str | None,
        digest: bytes | None,
        now: float,
    ) -> None:
        self._db.execute(
            "INSERT INTO versions (credential_id, version, state, kid, hash, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (credential_id, version, state, kid, digest, now),
        )

    def by_kid(self, credential_id: int, kid: str) -> tuple[str, float | None, bytes] | None:
        """The state, end of grace and hash of one credential's version with key id ``kid``."""
        row = self._db.execute(
            "SELECT state, not_after, hash FROM versions WHERE credential_id = ? AND kid = ?",
            (credential_id, kid),
        ).fetchone()
        return None if row is None or row[2] is None else (row[0], row[1], bytes(row[2]))

    def set_state(
        self, credential_id: int, version: int, state: str, not_after: float | None = None
    ) -> None:
        self._db.execute(
            "UPDATE versions SET state = ?, not_after = ? WHERE credential_id = ? AND version = ?",
            (state, not_after, credential_id, version),
        )


def load_live_tokens(
    conn: Connection, accepted: Iterable[str] | None = None, *, now: float | None = None
) -> list[LiveToken]:
    """Every bearer token a bridge may accept, optionally only of the ``accepted`` names: the
    token versions in a live state (never an OAuth client's secret), and the unexpired OAuth
    access tokens (state ``oauth``, ``not_after`` their expiry)."""
    sql = (
        "SELECT v.kid, v.hash, v.state, v.not_after, c.scopes, c.name, v.version "
        "FROM versions v JOIN credentials c ON c.id = v.credential_id "
        "WHERE v.kid IS NOT NULL AND v.state IN ('pending', 'current', 'previous') "
        "AND c.id NOT IN (SELECT credential_id FROM oauth_clients)"
    )
    names = None if accepted is None else set(accepted)
    rows = conn.execute(sql).fetchall()
    found = [
        LiveToken(kid, bytes(digest), state, not_after, tuple(json.loads(scopes)), name, version)
        for kid, digest, state, not_after, scopes, name, version in rows
    ]
    found += load_access_tokens(conn, time.time() if now is None else now)
    return [entry for entry in found if names is None or entry.name in names]
