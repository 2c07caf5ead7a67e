"""Rotation: a service on top of the store, as named, resumable steps (create, push, test, finish).

``rotate(store, name, ...)`` and ``rotate_due(store, ...)`` are what the CLI and the bridge call.
The steps live in ``steps``, the journal's ownership (who holds a rotation, is it still alive) in
``journal``, the registry of pushers (who updates a remote link at the push step, and may undo
it when a version retires) in ``pushers``, the registry of generators (who makes a generated
secret's next value) in ``generators``, what happens when a version retires in ``retirement``,
and how components providing pushers and generators are found (entry points) in ``plugins``.
The store below knows nothing of any of it.
"""

from __future__ import annotations

from vaults.rotation import plugins
from vaults.rotation.generators import (
    Generator,
    assign,
    generator_for,
    register_generator,
    unregister_generator,
)
from vaults.rotation.journal import CRASH_ENV, crash_checkpoint, owner_alive, owning
from vaults.rotation.pushers import (
    Pusher,
    Retirer,
    pusher_for,
    register_pusher,
    unregister_pusher,
)
from vaults.rotation.retirement import expire, run_hooks
from vaults.rotation.service import DEFAULT_GRACE, MAX_GRACE, rotate, rotate_due
from vaults.rotation.steps import Checkpoint, RotationResult, Tester

__all__ = [
    "CRASH_ENV",
    "DEFAULT_GRACE",
    "MAX_GRACE",
    "Checkpoint",
    "Generator",
    "Pusher",
    "Retirer",
    "RotationResult",
    "Tester",
    "assign",
    "crash_checkpoint",
    "expire",
    "generator_for",
    "owner_alive",
    "owning",
    "plugins",
    "pusher_for",
    "register_generator",
    "register_pusher",
    "rotate",
    "rotate_due",
    "run_hooks",
    "unregister_generator",
    "unregister_pusher",
]
