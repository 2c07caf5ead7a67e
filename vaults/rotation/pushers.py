"""Who pushes a new value to a remote link: a registry of pushers, one per link kind.

A pusher's ``push`` may return a reference to what it made remotely (a certificate id, a token
id); rotation records it per version and link (the ``pushes`` table). A pusher that also has a
``retire(link, version, ref)`` method is called once a version it pushed is retired or revoked,
to undo that push remotely (archive an old CA certificate): see ``vaults.rotation.retirement``.
"""

from __future__ import annotations

from typing import Protocol

from vaults.errors import PushError
from vaults.index import Link
from vaults.rotation.registry import Registry, plugin_failures


class Pusher(Protocol):
    """Pushes a credential's new value to one remote link; raises PushError on failure."""

    def push(self, link: Link, value: str) -> str | None: ...


class Retirer(Protocol):
    """A pusher that undoes its push of a version once the version retires (idempotently)."""

    def retire(self, link: Link, version: int, ref: str | None) -> None: ...


_pushers: Registry[Pusher] = Registry()


def register_pusher(kind: str, pusher: Pusher | str) -> None:
    """Use ``pusher`` for links of ``kind``; a ``"module:attr"`` string is imported on first use."""
    _pushers.register(kind, pusher)


def unregister_pusher(kind: str) -> None:
    """Forget the pusher for links of ``kind`` (no error if there is none)."""
    _pushers.unregister(kind)


def pusher_for(kind: str) -> Pusher:
    """The pusher registered for link ``kind``; PushError if there is none."""
    found = _pushers.get(kind)
    if found is None:
        raise PushError(
            f"no pusher is registered for links of kind {kind!r}; install the component that "
            f"provides it, or remove the link{plugin_failures()}"
        )
    return found
