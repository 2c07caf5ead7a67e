"""The ``credentials`` table: names, kinds, scopes and rotation periods, read with their rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from vaults.errors import NotFoundError
from vaults.index.database import Database
from vaults.index.links import Links
from vaults.index.records import CredentialInfo, moment
from vaults.index.rotations import Rotations
from vaults.index.versions import Versions

_SELECT = (
    "SELECT id, name, kind, scopes, rotate_every, created_at, updated_at, generator "
    "FROM credentials"
)


class Credentials:
    """Queries of the ``credentials`` table; a credential is read with its versions, its
    rotation journal row and its links."""

    def __init__(self, db: Database, versions: Versions, rotations: Rotations, links: Links):
        self._db = db
        self._versions = versions
        self._rotations = rotations
        self._links = links

    def get(self, name: str) -> CredentialInfo:
        """The credential ``name``; NotFoundError if none."""
        row = self._db.execute(f"{_SELECT} WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"no credential named {name!r}; see mcp-vault list for the names", name=name
            )
        return self._info(row)

    def exists(self, name: str) -> bool:
        query = "SELECT 1 FROM credentials WHERE name = ?"
        return self._db.execute(query, (name,)).fetchone() is not None

    def all(self) -> list[CredentialInfo]:
        """Every credential, by name."""
        return [self._info(row) for row in self._db.execute(f"{_SELECT} ORDER BY name")]

    def _info(self, row: tuple[Any, ...]) -> CredentialInfo:
        cid, name, kind, scopes, rotate_every, created_at, updated_at, generator = row
        return CredentialInfo(
            name=name,
            kind=kind,
            scopes=tuple(json.loads(scopes)),
            rotate_every=rotate_every,
            created_at=moment(created_at),
            updated_at=moment(updated_at),
            versions=tuple(self._versions.of(cid)),
            rotation=self._rotations.get(cid),
            links=tuple(self._links.of(cid)),
            generator=generator,
            id=cid,
        )

    def insert(
        self, name: str, kind: str, scopes: Iterable[str], rotate_every: float | None, now: float
    ) -> int:
        row = self._db.execute(
            "INSERT INTO credentials (name, kind, scopes, rotate_every, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (name, kind, json.dumps(list(scopes)), rotate_every, now, now),
        ).fetchone()
        return int(row[0])

    def set_generated(
        self, credential_id: int, generator: str | None, rotate_every: float | None, now: float
    ) -> None:
        """Which generator makes the credential's new values, and how often it is due."""
        self._db.execute(
            "UPDATE credentials SET generator = ?, rotate_every = ?, updated_at = ? WHERE id = ?",
            (generator, rotate_every, now, credential_id),
        )

    def touch(self, credential_id: int, now: float) -> None:
        self._db.execute("UPDATE credentials SET updated_at = ? WHERE id = ?", (now, credential_id))

    def delete(self, credential_id: int) -> None:
        self._db.execute("DELETE FROM credentials WHERE id = ?", (credential_id,))
