"""Recording where a credential's value is pushed (remote links), each change audited.

``vaults.remote`` adds a link when it creates (or adopts) a remote credential and records every
push; rotation's push step records its pushes itself, in the step's transaction.
"""

from __future__ import annotations

import time
from typing import Any

from vaults import audit
from vaults.errors import AlreadyExistsError, ConflictError
from vaults.index import Link
from vaults.store import Store


def add(
    store: Store, name: str, *, kind: str, vault_id: str, url: str, remote_id: str | None = None
) -> Link:
    """Record that ``name`` is pushed to ``vault_id`` (as the credential for ``url``)."""
    with store.index.write() as conn:
        info = store.index.credentials.get(name)
        try:
            link_id = store.index.links.insert(info.id, kind, vault_id, url, remote_id, time.time())
        except ConflictError as exc:
            raise AlreadyExistsError(
                f"{name} is already linked to {kind} {vault_id} for {url}", name=name
            ) from exc
        audit.record(conn, "link.add", credential=name, detail=f"{kind} {vault_id} {url}")
        return store.index.links.get(link_id)


def update(
    store: Store,
    link_id: int,
    *,
    remote_id: str | None = None,
    pushed_version: int | None = None,
    url: str | None = None,
    vault_id: str | None = None,
) -> Link:
    """Change the given fields of a link (e.g. after a push)."""
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("remote_id", remote_id),
            ("pushed_version", pushed_version),
            ("url", url),
            ("vault_id", vault_id),
        )
        if value is not None
    }
    with store.index.write() as conn:
        link = store.index.links.get(link_id)
        store.index.links.update(link_id, time.time(), **changes)
        audit.record(
            conn, "link.update", credential=link.credential, version=pushed_version,
            detail=f"{link.kind} {vault_id or link.vault_id} {', '.join(sorted(changes))}",
        )  # fmt: skip
        return store.index.links.get(link_id)


def remove(store: Store, link_id: int) -> None:
    """Forget a link (the remote credential itself is not touched)."""
    with store.index.write() as conn:
        link = store.index.links.get(link_id)
        store.index.links.delete(link_id)
        audit.record(
            conn, "link.remove", credential=link.credential,
            detail=f"{link.kind} {link.vault_id} {link.url}",
        )  # fmt: skip
