"""A store as the bridge's secret resolver (``vault:NAME`` references in tool config).

Each version's value is read from the keyring once, then served from memory, and which version
is current is looked up in the index at most once per ``recheck`` seconds (0.25 s, the bridge's
token check interval): a tool call costs neither a keyring round trip (about half a millisecond
here, 10+ ms on a Secret Service) nor an index read (a quarter of the bridge's time per OpenAPI
call under load, in a py-spy profile), and a rotation or revocation counts within ``recheck``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from vaults.errors import NotFoundError


class ValueSource(Protocol):
    """What the resolver needs of a store (``vaults.Store`` is one)."""

    def has_secret(self, name: str) -> bool: ...

    def current_version(self, name: str) -> int: ...

    def value_of(self, name: str, version: int) -> str: ...


class StoreSecrets:
    """Adapts a store to the bridge's SecretResolver protocol (``exists`` / ``get``)."""

    def __init__(
        self,
        store: ValueSource,
        *,
        recheck: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._recheck = recheck
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, str, float]] = {}  # version, value, checked at

    def exists(self, name: str) -> bool:
        return self._store.has_secret(name)

    def get(self, name: str) -> str:
        now = self._clock()
        with self._lock:
            cached = self._values.get(name)
        if cached is not None and now - cached[2] < self._recheck:
            return cached[1]
        try:
            version = self._store.current_version(name)
        except NotFoundError:
            with self._lock:
                self._values.pop(name, None)  # a revoked or removed value leaves memory too
            raise
        value = cached[1] if cached is not None and cached[0] == version else None
        if value is None:
            value = self._store.value_of(name, version)
        with self._lock:
            self._values[name] = (version, value, now)
        return value

    def __repr__(self) -> str:
        return f"StoreSecrets({self._store!r})"
