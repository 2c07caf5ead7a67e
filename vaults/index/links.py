"""The ``links`` table: where each credential's value is pushed (remote vault, credential, URL)."""

from __future__ import annotations

from typing import Any

from vaults.errors import NotFoundError
from vaults.index.database import Database
from vaults.index.records import Link, moment

_SELECT = (
    "SELECT l.id, c.name, l.kind, l.vault_id, l.remote_id, l.url, l.pushed_version, "
    "l.created_at, l.updated_at FROM links l JOIN credentials c ON c.id = l.credential_id"
)
_CHANGEABLE = frozenset({"vault_id", "remote_id", "url", "pushed_version"})


def _link(row: tuple[Any, ...]) -> Link:
    lid, name, kind, vault_id, remote_id, url, pushed, created_at, updated_at = row
    return Link(
        lid, name, kind, vault_id, remote_id, url, pushed, moment(created_at), moment(updated_at)
    )


class Links:
    """Queries of the ``links`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def of(self, credential_id: int | None = None) -> list[Link]:
        """The links of one credential, or of every credential (by name)."""
        if credential_id is None:
            rows = self._db.execute(f"{_SELECT} ORDER BY c.name, l.id").fetchall()
        else:
            rows = self._db.execute(
                f"{_SELECT} WHERE l.credential_id = ? ORDER BY l.id", (credential_id,)
            ).fetchall()
        return [_link(row) for row in rows]

    def get(self, link_id: int) -> Link:
        row = self._db.execute(f"{_SELECT} WHERE l.id = ?", (link_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no link with id {link_id}; see mcp-vault show NAME --json")
        return _link(row)

    def insert(
        self,
        credential_id: int,
        kind: str,
        vault_id: str,
        url: str,
        remote_id: str | None,
        now: float,
    ) -> int:
        row = self._db.execute(
            "INSERT INTO links (credential_id, kind, vault_id, remote_id, url, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (credential_id, kind, vault_id, remote_id, url, now, now),
        ).fetchone()
        return int(row[0])

    def update(self, link_id: int, now: float, **changes: Any) -> None:
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"cannot update link fields {sorted(unknown)}")
        if not changes:
            return
        columns = ", ".join(f"{column} = ?" for column in changes)
        self._db.execute(
            f"UPDATE links SET {columns}, updated_at = ? WHERE id = ?",  # noqa: S608 - fixed names
            (*changes.values(), now, link_id),
        )

    def delete(self, link_id: int) -> None:
        self._db.execute("DELETE FROM links WHERE id = ?", (link_id,))
