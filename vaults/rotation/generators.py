"""Who makes a secret's new value at the create step: a registry of generators, by name.

A token's new value is always a fresh random token, and a plain secret's comes from the person
rotating it (stdin). A secret recorded with a generator (``assign``) gets its new value from the
generator registered under that name instead: a tunnel's connector token comes from the Tunnels
API, a CA bundle is made afresh. Generators are registered the way pushers are, by components
that :mod:`vaults.rotation.plugins` loads from entry points.
"""

from __future__ import annotations

import time
from typing import Protocol

from vaults import audit
from vaults.errors import RotationError, UsageError
from vaults.index import CredentialInfo, period
from vaults.inputs import MAX_ROTATE_EVERY, bounded_duration
from vaults.rotation.registry import Registry, plugin_failures
from vaults.store import Store


class Generator(Protocol):
    """Makes the next value of a credential; raises a VaultError (or any error) on failure.

    It runs before the create step's transaction, and a crash may hit between the two: a
    generator whose source is not idempotent (an API that rotates on each call) must notice
    that it already ran (see ``bridge.tunnel.plugin``) instead of rotating twice.
    """

    def generate(self, info: CredentialInfo) -> str: ...


_generators: Registry[Generator] = Registry()


def register_generator(name: str, generator: Generator | str) -> None:
    """Use ``generator`` for credentials assigned ``name``; ``"module:attr"`` is imported lazily."""
    _generators.register(name, generator)


def unregister_generator(name: str) -> None:
    _generators.unregister(name)


def generator_for(name: str) -> Generator:
    """The generator registered as ``name``; RotationError if there is none."""
    found = _generators.get(name)
    if found is None:
        raise RotationError(
            f"no generator named {name!r} is installed (it makes this secret's new values); "
            "install the component that provides it (e.g. mcp-bridge for tunnel credentials)"
            + plugin_failures()
        )
    return found


def assign(store: Store, name: str, generator: str | None, *, rotate_every: float | None) -> None:
    """Record that ``name`` (a secret) gets its new values from ``generator``, every
    ``rotate_every`` seconds (``rotate --due``); None for both makes it a plain secret again."""
    if rotate_every is not None:
        bounded_duration(rotate_every, "rotate_every", MAX_ROTATE_EVERY)
        if rotate_every <= 0:
            raise UsageError("a rotation period must be a positive duration, e.g. 60d")
    with store.index.write() as conn:
        info = store.index.credentials.get(name)
        if info.kind != "secret":
            raise UsageError(f"{name} is a {info.kind}; only secrets take a generator")
        if (info.generator, info.rotate_every) == (generator, rotate_every):
            return
        store.index.credentials.set_generated(info.id, generator, rotate_every, time.time())
        audit.record(
            conn,
            "generator.set",
            credential=name,
            detail=f"{generator or 'none'}, rotate every {period(rotate_every)}",
        )
