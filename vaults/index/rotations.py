"""The ``rotations`` table: the journal row of a rotation in progress, one per credential."""

from __future__ import annotations

from vaults.index.database import Database
from vaults.index.records import RotationInfo, moment


class Rotations:
    """Queries of the ``rotations`` table (the row is also the rotation's lock)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, credential_id: int) -> RotationInfo | None:
        row = self._db.execute(
            "SELECT from_version, to_version, step, grace, owner, started_at, updated_at "
            "FROM rotations WHERE credential_id = ?",
            (credential_id,),
        ).fetchone()
        if row is None:
            return None
        from_version, to_version, step, grace, owner, started_at, updated_at = row
        return RotationInfo(
            from_version, to_version, step, grace, owner, moment(started_at), moment(updated_at)
        )

    def insert(
        self,
        credential_id: int,
        from_version: int | None,
        to_version: int,
        grace: float,
        owner: str,
        now: float,
    ) -> None:
        self._db.execute(
            "INSERT INTO rotations (credential_id, from_version, to_version, step, grace, owner, "
            "started_at, updated_at) VALUES (?, ?, ?, 'create', ?, ?, ?, ?)",
            (credential_id, from_version, to_version, grace, owner, now, now),
        )

    def update(
        self, credential_id: int, now: float, *, step: str | None = None, owner: str | None = None
    ) -> None:
        self._db.execute(
            "UPDATE rotations SET step = COALESCE(?, step), owner = COALESCE(?, owner), "
            "updated_at = ? WHERE credential_id = ?",
            (step, owner, now, credential_id),
        )

    def delete(self, credential_id: int) -> None:
        self._db.execute("DELETE FROM rotations WHERE credential_id = ?", (credential_id,))
