"""What happens when a version retires: its grace window ends, then its links' retire hooks run.

A ``previous`` version stays valid until its ``not_after``; :func:`expire` turns every such
version whose window has passed into ``retired`` (a rotation's finish retires older ones itself).
Then :func:`run_hooks` calls, for every push of a retired or revoked version not undone yet, the
link kind's ``retire`` hook (archive the tunnel's old CA certificate), and records that it ran.
A crash between the hook and the record only means the hook runs again: hooks are idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vaults import audit
from vaults.errors import VaultError
from vaults.rotation.journal import crash_checkpoint
from vaults.rotation.pushers import pusher_for
from vaults.store import Store


def expire(store: Store, *, now: float | None = None) -> list[tuple[str, int]]:
    """Retire every ``previous`` version whose grace window has ended; returns (name, version)."""
    moment = time.time() if now is None else now
    ended: list[tuple[str, int]] = []
    with store.index.write() as conn:
        for info in store.index.credentials.all():
            for version in info.versions:
                if version.state != "previous" or version.not_after is None:
                    continue
                if version.not_after.timestamp() > moment:
                    continue
                store.index.versions.set_state(info.id, version.version, "retired")
                audit.record(
                    conn,
                    "rotate.retire",
                    credential=info.name,
                    version=version.version,
                    kid=version.kid,
                    detail="grace window ended",
                )
                ended.append((info.name, version.version))
    for name, number in ended:
        store.forget(name, number)  # already gone for rotated versions: harmless
    return ended


def run_hooks(
    store: Store,
    name: str | None = None,
    *,
    checkpoint: Callable[[str], None] = crash_checkpoint,
) -> list[str]:
    """Run the retire hooks that are due (of ``name``, or of every credential); returns one
    line per hook that failed (each is tried again on the next run)."""
    with store.index.read():
        credential_id = None if name is None else store.index.credentials.get(name).id
        due = store.index.pushes.to_retire(credential_id)
    failures: list[str] = []
    for push in due:
        link = push.link
        where = f"{link.kind} {link.vault_id} ({link.url})"
        try:
            hook = getattr(pusher_for(link.kind), "retire", None)
            if hook is not None:
                hook(link, push.version, push.ref)
                checkpoint("retire")
        except Exception as exc:
            # A foreign exception's text may echo what it was given: keep only its class.
            reason = str(exc) if isinstance(exc, VaultError) else type(exc).__name__
            failures.append(f"{link.credential} v{push.version} -> {where}: {reason}")
            with store.index.write() as conn:
                audit.record(
                    conn,
                    "rotate.retire-push",
                    credential=link.credential,
                    version=push.version,
                    outcome="failed",
                    detail=f"{where}: {reason}",
                )
            continue
        with store.index.write() as conn:
            store.index.pushes.mark_retired(link.id, push.version, time.time())
            if hook is not None:
                audit.record(
                    conn,
                    "rotate.retire-push",
                    credential=link.credential,
                    version=push.version,
                    detail=f"{where}: {push.ref or '-'}",
                )
    return failures
