"""A registry by name, thread-safe, whose entries may be ``"module:attr"`` strings imported on
first use: what the pushers (by link kind) and the generators (by name) are kept in."""

from __future__ import annotations

import importlib
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self) -> None:
        self._entries: dict[str, T | str] = {}
        self._lock = threading.Lock()

    def register(self, name: str, entry: T | str) -> None:
        with self._lock:
            self._entries[name] = entry

    def unregister(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def get(self, name: str) -> T | None:
        """The entry registered as ``name`` (imported if it was a string), or None."""
        with self._lock:
            found = self._entries.get(name)
            if isinstance(found, str):
                module, _, attr = found.partition(":")
                found = getattr(importlib.import_module(module), attr)
                self._entries[name] = found
        return found


def plugin_failures() -> str:
    """``; plugin X failed to load (why)`` for each broken rotation plugin, for error messages."""
    from vaults.rotation.plugins import broken

    return "".join(f"; plugin {name} failed to load ({why})" for name, why in broken().items())
