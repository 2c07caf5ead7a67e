"""The bridge's view of the vault store: tool secrets by name, read at call time."""

from __future__ import annotations

from vaults.store import Store


class StoreSecrets:
    """A ``SecretResolver`` over a ``Store``: ``exists`` reads the index, ``get`` the keyring."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def exists(self, name: str) -> bool:
        return self._store.has_secret(name)

    def get(self, name: str) -> str:
        return self._store.secret(name)

    def __repr__(self) -> str:
        return f"StoreSecrets({self._store.store_dir})"
