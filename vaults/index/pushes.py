"""The ``pushes`` table: each version pushed to each link, what the push made remotely, and
whether the link's retire hook has undone it since the version retired."""

from __future__ import annotations

from typing import Any

from vaults.index.database import Database
from vaults.index.links import Links
from vaults.index.records import Push, moment, optional_moment

_SELECT = (
    "SELECT p.link_id, p.version, p.remote_ref, p.pushed_at, p.retired_at FROM pushes p "
    "JOIN links l ON l.id = p.link_id"
)


class Pushes:
    """Queries of the ``pushes`` table."""

    def __init__(self, db: Database, links: Links) -> None:
        self._db = db
        self._links = links

    def _push(self, row: tuple[Any, ...]) -> Push:
        link_id, version, ref, pushed_at, retired_at = row
        return Push(
            self._links.get(link_id), version, ref, moment(pushed_at), optional_moment(retired_at)
        )

    def record(self, link_id: int, version: int, ref: str | None, now: float) -> None:
        """``version`` was pushed to ``link_id`` (again: the newer ``ref`` wins)."""
        self._db.execute(
            "INSERT INTO pushes (link_id, version, remote_ref, pushed_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (link_id, version) DO UPDATE SET remote_ref = excluded.remote_ref, "
            "pushed_at = excluded.pushed_at",
            (link_id, version, ref, now),
        )

    def get(self, link_id: int, version: int) -> Push | None:
        row = self._db.execute(
            f"{_SELECT} WHERE p.link_id = ? AND p.version = ?", (link_id, version)
        ).fetchone()
        return None if row is None else self._push(row)

    def of(self, credential_id: int) -> list[Push]:
        """Every push of one credential's versions, newest version first."""
        rows = self._db.execute(
            f"{_SELECT} WHERE l.credential_id = ? ORDER BY p.version DESC, p.link_id",
            (credential_id,),
        ).fetchall()
        return [self._push(row) for row in rows]

    def to_retire(self, credential_id: int | None = None) -> list[Push]:
        """Pushes of versions that are retired or revoked and whose hook has not run yet."""
        sql = (
            f"{_SELECT} JOIN versions v ON v.credential_id = l.credential_id "
            "AND v.version = p.version WHERE p.retired_at IS NULL "
            "AND v.state IN ('retired', 'revoked')"
        )
        params: tuple[Any, ...] = ()
        if credential_id is not None:
            sql += " AND l.credential_id = ?"
            params = (credential_id,)
        rows = self._db.execute(sql + " ORDER BY p.version, p.link_id", params).fetchall()
        return [self._push(row) for row in rows]

    def mark_retired(self, link_id: int, version: int, now: float) -> None:
        self._db.execute(
            "UPDATE pushes SET retired_at = ? WHERE link_id = ? AND version = ?",
            (now, link_id, version),
        )
