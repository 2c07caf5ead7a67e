"""Rotation: a service on top of the store, as named, resumable steps (create, push, test, finish).

``rotate(store, name, ...)`` and ``rotate_due(store, ...)`` are what the CLI and the bridge call.
The steps live in ``steps``, the journal's ownership (who holds a rotation, is it still alive) in
``journal``, and the registry of pushers (who updates a remote link at the push step) in
``pushers``. The store below knows nothing of any of it.
"""

from __future__ import annotations

from vaults.rotation.journal import CRASH_ENV, crash_checkpoint, owner_alive
from vaults.rotation.pushers import Pusher, pusher_for, register_pusher, unregister_pusher
from vaults.rotation.service import DEFAULT_GRACE, MAX_GRACE, rotate, rotate_due
from vaults.rotation.steps import Checkpoint, RotationResult, Tester

__all__ = [
    "CRASH_ENV",
    "DEFAULT_GRACE",
    "MAX_GRACE",
    "Checkpoint",
    "Pusher",
    "RotationResult",
    "Tester",
    "crash_checkpoint",
    "owner_alive",
    "pusher_for",
    "register_pusher",
    "rotate",
    "rotate_due",
    "unregister_pusher",
]
