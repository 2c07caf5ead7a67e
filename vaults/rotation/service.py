"""Rotating one credential, or every credential that is due: what the CLI and the bridge call.

Due are the tokens, and the secrets that have a generator, whose current version is older than
their ``rotate_every``. After a rotation, and on every ``rotate_due``, the retirement runs too:
grace windows that ended retire their versions, and the links' retire hooks undo their pushes.
"""

from __future__ import annotations

import dataclasses
import time

from vaults.errors import RotationError, VaultError
from vaults.inputs import bounded_duration, validate_name
from vaults.rotation import retirement
from vaults.rotation.journal import crash_checkpoint
from vaults.rotation.steps import MAX_GRACE, Checkpoint, Rotation, RotationResult, Tester
from vaults.store import Store

DEFAULT_GRACE = 86400.0


def rotate(
    store: Store,
    name: str,
    *,
    grace: float = DEFAULT_GRACE,
    resume: bool = False,
    value: str | None = None,
    tester: Tester | None = None,
    checkpoint: Checkpoint = crash_checkpoint,
) -> RotationResult:
    """Rotate ``name`` in ``store`` (a secret needs ``value``), or resume its interrupted rotation.

    ``tester(name, new_value)`` runs at the test step; ``checkpoint(step)`` runs after each
    step (raising there interrupts the rotation, as a crash would).
    """
    validate_name(name)
    bounded_duration(grace, "--grace", MAX_GRACE)
    rotation = Rotation(store, name, tester=tester, checkpoint=checkpoint)
    journal, resumed = rotation.claim(grace=grace, resume=resume, needs_value=value is None)
    try:
        checkpoint("start")
        result = rotation.run(journal, value)
    finally:
        rotation.release()
    failures = tuple(retirement.run_hooks(store, name, checkpoint=checkpoint))
    result = dataclasses.replace(result, retire_failures=failures)
    if not resumed:
        return result
    if value is not None and journal.step != "create" and result.kind == "secret" and not resume:
        # The interrupted rotation already stored another value: finish it, then set this one.
        return rotate(store, name, grace=grace, value=value, tester=tester, checkpoint=checkpoint)
    return dataclasses.replace(result, resumed=True)


def rotate_due(
    store: Store, *, grace: float = DEFAULT_GRACE, now: float | None = None
) -> list[RotationResult]:
    """Rotate every token (and generated secret) whose current version is older than its
    ``rotate_every``; then retire what is due. RotationError lists what failed."""
    moment = time.time() if now is None else now
    retirement.expire(store, now=moment)
    due = []
    for info in store.list():
        current = info.current
        generated = info.kind == "token" or info.generator is not None
        if not generated or info.rotate_every is None:
            continue
        if current is None or current.created_at.timestamp() + info.rotate_every <= moment:
            due.append(info.name)
    results = []
    failures: list[str] = []
    for name in due:
        try:
            results.append(rotate(store, name, grace=grace))
        except VaultError as exc:
            failures.append(f"{name}: {exc}")
    retire_failures = retirement.run_hooks(store)
    problems = []
    if failures:
        problems.append(
            f"{len(failures)} of {len(due)} due rotations failed ("
            + "; ".join(failures)
            + "); the others are done"
        )
    if retire_failures:
        problems.append(
            "retiring old versions failed (" + "; ".join(retire_failures) + "); retried next run"
        )
    if problems:
        raise RotationError("; ".join(problems))
    return results
