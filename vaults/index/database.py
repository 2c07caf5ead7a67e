"""The index's database: one interface over SQLite (the embedded default) and PostgreSQL (fleets).

Why a thin dialect layer of our own rather than SQLAlchemy Core: the index is some forty
hand-written statements over a few small tables, all in the SQL both engines share (``?``
placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING``). What differs is a short list, and each
item is one method of :class:`Database`: the placeholder style and the column types of the
migrations (``BLOB``/``BYTEA``), where the schema version is kept, how writers are serialised
(SQLite's ``BEGIN IMMEDIATE``, a transaction-scoped advisory lock on PostgreSQL), how the
verifier learns of a change (``PRAGMA data_version``, ``LISTEN``/``NOTIFY``) and the lock a
rotation holds across processes (a session advisory lock on PostgreSQL). SQLAlchemy Core would
rewrite every statement into its expression language, put a large dependency in front of every
``mcp-vault`` command, and still leave NOTIFY, advisory locks and SQLite's WAL check to
engine-specific code.

Callers use a :class:`Connection` (``execute(sql, params)``, ``?`` placeholders, rows as tuples)
inside ``with db.write():`` or ``with db.read():``; every driver error comes out as a
StoreError, a unique-key conflict as ConflictError.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

T = TypeVar("T")


class Cursor(Protocol):
    """The rows of one statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What a transaction hands its caller: statements with ``?`` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...


class Changes(Protocol):
    """How a long-lived reader (the verifier) learns that the index changed."""

    def changed(self, *, strict: bool = False) -> bool:
        """Whether the index changed since the last snapshot; ``strict`` asks the database
        itself where the cheap answer could lag behind a commit."""
        ...

    def snapshot(self, load: Callable[[Connection], T]) -> T:
        """``load`` run in one consistent snapshot, which becomes the one ``changed`` compares
        with."""
        ...

    def close(self) -> None: ...


class Hold:
    """Ownership of a key across processes (a rotation, a push), until :meth:`release`.

    ``exclusive`` says whether the engine enforces it: then no other process, on any host,
    holds the same key meanwhile, and a holder that dies loses it. SQLite's hold is not
    exclusive (the rotation journal's host:pid decides there).
    """

    exclusive = False

    def release(self) -> None:
        """Give the key up (idempotent)."""


class Database(ABC):
    """One index database; ``location`` names it in messages (never with a password)."""

    engine: ClassVar[str]
    # Whether opening an index at an older schema upgrades it, or waits for mcp-vault migrate.
    auto_upgrade: ClassVar[bool]
    location: str
    path: Path | None = None  # the SQLite file
    url: str | None = None  # the PostgreSQL URL (it may hold a password: never in messages)

    @abstractmethod
    def write(self) -> contextlib.AbstractContextManager[Connection]:
        """A transaction that writers take one at a time (nested uses join the outer one);
        committed at the end of the block, rolled back on an error."""

    @abstractmethod
    def read(self) -> contextlib.AbstractContextManager[Connection]:
        """A consistent snapshot for several queries."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """One statement, inside the caller's transaction if this thread is in one."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def schema_version(self, conn: Connection) -> int:
        """The number of migrations applied (0: an empty database)."""

    @abstractmethod
    def set_schema_version(self, conn: Connection, version: int) -> None: ...

    def statements(self, migration: str) -> list[str]:
        """The statements of one migration (written in SQLite's dialect), for this engine."""
        return [part.strip() for part in migration.split(";\n") if part.strip()]

    @abstractmethod
    def hold(self, key: str) -> Hold | None:
        """Take ``key`` for this process, or None if another process holds it."""

    def held(self, key: str) -> bool | None:
        """Whether some process holds ``key`` now; None where the engine cannot tell."""
        return None

    @abstractmethod
    def integrity(self) -> tuple[bool, str]:
        """Whether the engine finds the database sound, and what it says."""


def is_query(sql: str) -> bool:
    """Whether ``sql`` only reads (a SELECT or a PRAGMA that reads)."""
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or (head == "PRAGMA" and "=" not in sql)
