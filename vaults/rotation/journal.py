"""Who owns a rotation's journal row: this process's owner id, and whether an owner is alive.

The journal row (table ``rotations``) is also the lock: one rotation at a time per credential. A
row whose owner is gone is stale, and the next rotation (or ``--resume``) takes it over. On
PostgreSQL the owner also holds the credential's advisory lock (``Store.hold``) for the whole
rotation, which tells for sure, from any host, whether it is still alive.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from vaults.errors import RotationInProgressError
from vaults.index import Hold, RotationInfo

if TYPE_CHECKING:
    from vaults.store import Store

CRASH_ENV = "MCP_VAULT_CRASH_AFTER"

_active: set[tuple[str, str]] = set()
_active_lock = threading.Lock()


def crash_checkpoint(step: str) -> None:
    """Test hook: SIGKILL this process right after ``step`` when MCP_VAULT_CRASH_AFTER names it.

    The points are "start" (the journal row is committed, nothing else done), "generate" (a
    generator made the new value, not stored yet), then each step: "create", "push", "test",
    "finish"; and "retire" (a retire hook ran, not recorded yet).
    """
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def owner_id() -> str:
    """This process as a journal owner: ``host:pid``, plus ``@start`` where the OS tells it."""
    started = _started(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}" + (f"@{started}" if started else "")


def _started(pid: int) -> str | None:
    # The start time (in clock ticks since boot) tells a live owner from a later process that
    # got its pid; Linux only, elsewhere the pid alone decides.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return stat.rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def parse_owner(owner: str) -> tuple[str, str, str]:
    """``(host, pid, start)`` of an owner id."""
    host, _, process = owner.rpartition(":")
    pid, _, started = process.partition("@")
    return host, pid, started


def elsewhere(owner: str) -> bool:
    """Whether ``owner`` is a process on another host."""
    return parse_owner(owner)[0] != socket.gethostname()


def owner_alive(owner: str, store_id: str, name: str, *, held: bool | None = None) -> bool:
    """Whether the process that owns a journal row may still be working on it.

    ``held`` is what the store's lock says (``Store.held``), where the engine can tell.
    """
    if held is not None:
        return held
    host, pid_text, started = parse_owner(owner)
    if host != socket.gethostname():
        return True  # cannot tell; the user decides with --resume after checking that host
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        with _active_lock:
            return (store_id, name) in _active
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now_started = _started(pid) if started else None
    return now_started is None or now_started == started


def mark_active(store_id: str, name: str) -> None:
    """This process is now working on the rotation of ``name`` (for :func:`owner_alive`)."""
    with _active_lock:
        _active.add((store_id, name))


def mark_done(store_id: str, name: str) -> None:
    with _active_lock:
        _active.discard((store_id, name))


def busy_message(name: str, journal: RotationInfo) -> str:
    """What to tell a user whose rotation of ``name`` found another one in progress."""
    host, pid, _ = parse_owner(journal.owner)
    since = journal.started_at.isoformat(timespec="seconds")
    return (
        f"rotation of {name} already in progress (pid {pid} on {host} since {since}); wait for "
        f"it, or run mcp-vault rotate {name} --resume if that process is gone"
    )


def hold(store: Store, name: str) -> Hold | None:
    """Take the rotation and pushes of ``name`` for this process; None if another has them.

    On PostgreSQL this is an advisory lock of a database session, so one process at a time, on
    any replica, rotates or pushes a credential, and a holder that dies lets go. On SQLite it
    enforces nothing (``exclusive`` is False): the journal's host:pid decides.
    """
    return store.index.hold(_hold_key(store, name))


def held(store: Store, name: str) -> bool | None:
    """Whether some process holds ``name`` now (None: the engine cannot tell)."""
    return store.index.db.held(_hold_key(store, name))


def _hold_key(store: Store, name: str) -> str:
    return f"{store.store_id}:{name}"


@contextmanager
def owning(store: Store, name: str) -> Iterator[Hold]:
    """``hold(store, name)`` for the block (a push outside a rotation takes it too);
    RotationInProgressError if another process holds it."""
    taken = hold(store, name)
    if taken is None:
        raise RotationInProgressError(
            f"a rotation or push of {name} is already in progress in another process (on this "
            "or another host); wait for it and retry",
            name=name,
        )
    try:
        yield taken
    finally:
        taken.release()
