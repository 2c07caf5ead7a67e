"""What the index reads back: credentials, versions, rotation journal rows and links, as records.

Every record is frozen and never holds a value. ``Record.to_dict`` is the one JSON form of all of
them (datetimes as ISO text, tuples as lists, nested records as dicts).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

from mcpb.durations import format_duration

_HIDDEN = {"to_dict": False}
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def moment(value: float) -> datetime:
    """A stored timestamp as a UTC datetime, clamped to the years a datetime can hold.

    An older mcp-vault took any grace, so a stored ``not_after`` may lie past year 9999 (or be
    infinite); SQLite's columns may even hold text. Reading one must never crash a command (list,
    show, revoke...): a time past the range reads as the latest date, one before it (or no number
    at all) as the earliest, so it still sorts and compares the way it was meant.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return _EARLIEST
    if math.isnan(seconds):
        return _EARLIEST
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return _LATEST if seconds > 0 else _EARLIEST


def optional_moment(value: float | None) -> datetime | None:
    return None if value is None else moment(value)


def stamp(when: datetime | None) -> str:
    """``when`` as the CLIs print it (UTC, to the second), ``-`` for none."""
    if when is None:
        return "-"
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period(seconds: float | None) -> str:
    """A stored duration as people write it, ``-`` for none; never fails on an odd stored value."""
    if seconds is None:
        return "-"
    try:
        return format_duration(seconds)
    except (TypeError, ValueError, OverflowError):
        return f"{seconds}s"


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


class Record:
    """Base of the index's dataclasses: one ``to_dict`` for all of them."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This record as JSON-ready data (fields marked ``_HIDDEN`` left out)."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.metadata.get("to_dict", True)
        }


@dataclasses.dataclass(frozen=True, slots=True)
class VersionInfo(Record):
    """One version of a credential; ``kid`` is set for tokens only."""

    version: int
    state: str
    kid: str | None
    created_at: datetime
    not_after: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class RotationInfo(Record):
    """The journal row of a rotation in progress (or interrupted)."""

    from_version: int | None
    to_version: int
    step: str
    grace: float
    owner: str
    started_at: datetime
    updated_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Link(Record):
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


@dataclasses.dataclass(frozen=True, slots=True)
class Push(Record):
    """One version pushed to one link, with what the push made remotely (``ref``), and when the
    link's retire hook undid it (``retired_at``: None while the version lives or until then)."""

    link: Link
    version: int
    ref: str | None
    pushed_at: datetime
    retired_at: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialInfo(Record):
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
    generator: str | None = None  # a secret whose new value a registered generator makes
    id: int = dataclasses.field(default=0, repr=False, compare=False, metadata=_HIDDEN)

    @property
    def current(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.state == "current"), None)

    @property
    def pending(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.state == "pending"), None)

    def summary(self) -> str:
        """The live versions in one line (``v3 current, v2 previous until ...``)."""
        parts = []
        for version in self.versions:
            if version.state == "previous" and version.not_after is not None:
                parts.append(f"v{version.version} previous until {stamp(version.not_after)}")
            elif version.state in ("pending", "current"):
                parts.append(f"v{version.version} {version.state}")
        retired = sum(1 for v in self.versions if v.state in ("retired", "revoked"))
        if retired:
            parts.append(f"{retired} retired/revoked")
        if self.rotation is not None:
            parts.append(f"rotating to v{self.rotation.to_version} (step {self.rotation.step})")
        return ", ".join(parts) or "-"


@dataclasses.dataclass(frozen=True, slots=True)
class LiveToken:
    """A token version the verifier may accept, as loaded from the index."""

    kid: str
    hash: bytes = dataclasses.field(repr=False)
    state: str
    not_after: float | None
    scopes: tuple[str, ...]
    name: str
    version: int
