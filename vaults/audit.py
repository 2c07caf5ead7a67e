"""The audit trail: one row per change (time, OS user, action, credential, version, kid, outcome).

Rows are written in the same transaction as the change they record, so a change that cannot be
audited is not made. A row never holds a value.
"""

from __future__ import annotations

import getpass
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mcpb.durations import DurationError, parse_duration
from vaults.errors import AuditError, StoreError, UsageError
from vaults.index import Connection, Record, moment


@dataclass(frozen=True, slots=True)
class AuditRow(Record):
    """One recorded change."""

    id: int
    at: datetime
    os_user: str
    action: str
    credential: str | None
    version: int | None
    kid: str | None
    outcome: str
    detail: str | None


def os_user() -> str:
    """The login name of the user running this process (the uid when there is none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def record(
    conn: Connection,
    action: str,
    *,
    credential: str | None = None,
    version: int | None = None,
    kid: str | None = None,
    outcome: str = "ok",
    detail: str | None = None,
) -> None:
    """Insert an audit row inside the caller's transaction; AuditError if it cannot be written."""
    try:
        conn.execute(
            "INSERT INTO audit (at, os_user, action, credential, version, kid, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), os_user(), action, credential, version, kid, outcome, detail),
        )
    except StoreError as exc:
        raise AuditError(
            f"could not write the audit row for {action} of {credential or 'the store'} "
            f"({exc}); nothing was changed. Run mcp-vault doctor"
        ) from exc


def rows(conn: Connection, *, since: datetime | None = None) -> list[AuditRow]:
    """Audit rows in order, optionally only those at or after ``since``."""
    # Datetimes carry microseconds only: allow for the rounding of the stored float.
    after = 0.0 if since is None else since.timestamp() - 1e-6
    found = conn.execute(
        "SELECT id, at, os_user, action, credential, version, kid, outcome, detail "
        "FROM audit WHERE at >= ? ORDER BY at, id",
        (after,),
    ).fetchall()
    return [
        AuditRow(rid, moment(at), user, action, cred, ver, kid, out, detail)
        for rid, at, user, action, cred, ver, kid, out, detail in found
    ]


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """The moment ``--since`` names: an ISO time (local if it has no zone), or a duration back
    from ``now`` ("24h"); UsageError otherwise."""
    try:
        back = parse_duration(text)
    except DurationError:
        pass
    else:
        return (now or datetime.now(UTC)) - timedelta(seconds=back)
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(
            f"--since {text!r}: give an ISO time (2025-01-31T12:00) or a duration (24h)"
        ) from exc
    return when if when.tzinfo else when.astimezone()
