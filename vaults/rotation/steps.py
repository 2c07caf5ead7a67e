"""The four rotation steps (create, push, test, finish), each journaled before it runs.

After ``create`` both the old and the new token are accepted; ``finish`` makes the new version
current and keeps the old one valid for the grace window. A crash at any point leaves at least one
accepted token whose value is in the keyring, and a rerun (``resume``) finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from vaults import audit, tokens
from vaults.errors import (
    PushError,
    RotationError,
    RotationInProgressError,
    UsageError,
    VaultError,
)
from vaults.index import Connection, CredentialInfo, Hold, RotationInfo, period
from vaults.rotation import journal as owners
from vaults.rotation.generators import generator_for
from vaults.rotation.pushers import pusher_for
from vaults.store import Store

# The old version stays valid this long at most: a longer grace is a second current token.
MAX_GRACE = 365 * 86400.0

Checkpoint = Callable[[str], None]
Tester = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class RotationResult:
    """A finished rotation; ``value`` (the new token or secret) stays out of ``repr``."""

    name: str
    kind: str
    from_version: int | None
    version: int
    kid: str | None
    value: str = field(repr=False)
    resumed: bool = False
    ended: tuple[int, ...] = ()  # older versions whose grace window this rotation ended
    retire_failures: tuple[str, ...] = ()  # retire hooks that failed (tried again later)

    @property
    def token(self) -> str | None:
        return self.value if self.kind == "token" else None


class Rotation:
    """One rotation of one credential by this process: claim the journal row, run the steps."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        tester: Tester | None,
        checkpoint: Checkpoint,
    ) -> None:
        self.store = store
        self.index = store.index
        self.name = name
        self.tester = tester
        self.checkpoint = checkpoint
        self.owner = owners.owner_id()
        self.value: str | None = None
        self.marked = False
        self.hold: Hold | None = None

    def claim(self, *, grace: float, resume: bool, needs_value: bool) -> tuple[RotationInfo, bool]:
        """Insert the journal row (or take over a stale one); returns it and whether resumed."""
        self.hold = owners.hold(self.store, self.name)
        try:
            if self.hold is None:
                journal = self.store.show(self.name).rotation
                raise RotationInProgressError(
                    owners.busy_message(self.name, journal)
                    if journal is not None
                    else f"a rotation or push of {self.name} is already in progress in another "
                    "process (on this or another host); wait for it and retry",
                    name=self.name,
                )
            return self._claim(grace=grace, resume=resume, needs_value=needs_value)
        except BaseException:
            self.release()
            raise

    def _claim(self, *, grace: float, resume: bool, needs_value: bool) -> tuple[RotationInfo, bool]:
        with self.index.write() as conn:
            info = self.index.credentials.get(self.name)
            if info.kind == "token" and not needs_value:
                raise UsageError(
                    f"{self.name} is a token: its new value is generated, do not pass one"
                )
            journal = info.rotation
            now = time.time()
            if journal is None:
                if resume:
                    raise RotationError(_nothing_to_resume(info))
                if needs_value and info.kind == "secret" and info.generator is None:
                    raise UsageError(
                        f"rotating the secret {self.name} needs its new value on stdin"
                    )
                if not needs_value and info.generator is not None:
                    raise UsageError(
                        f"the new value of {self.name} is made by its generator "
                        f"({info.generator}); do not pass one"
                    )
                current = info.current
                to_version = self.index.versions.next_number(info.id)
                from_version = current.version if current else None
                self.index.rotations.insert(
                    info.id, from_version, to_version, grace, self.owner, now
                )
                audit.record(
                    conn,
                    "rotate.start",
                    credential=self.name,
                    version=to_version,
                    detail=f"grace {period(grace)}",
                )
                resumed = False
            else:
                # --resume on this host is the user saying the other host's process is gone.
                taking_over = resume and owners.elsewhere(journal.owner)
                # An exclusive hold (PostgreSQL) proves the owner gone, on whatever host.
                exclusive = self.hold is not None and self.hold.exclusive
                alive = not exclusive and owners.owner_alive(
                    journal.owner, self.store.store_id, self.name
                )
                if not taking_over and alive:
                    raise RotationInProgressError(
                        owners.busy_message(self.name, journal), name=self.name
                    )
                self.index.rotations.update(info.id, now, owner=self.owner)
                audit.record(
                    conn,
                    "rotate.resume",
                    credential=self.name,
                    version=journal.to_version,
                    detail=f"at step {journal.step}, from {journal.owner}",
                )
                resumed = True
            self._mark_active()
            claimed = self.index.rotations.get(info.id)
        assert claimed is not None
        return claimed, resumed

    def _mark_active(self) -> None:
        owners.mark_active(self.store.store_id, self.name)
        self.marked = True

    def release(self) -> None:
        if self.marked:
            owners.mark_done(self.store.store_id, self.name)
            self.marked = False
        if self.hold is not None:
            self.hold.release()
            self.hold = None

    @contextmanager
    def _step(self, step: str) -> Iterator[tuple[CredentialInfo, Connection]]:
        """A transaction in which this process still owns the journal at ``step``."""
        with self.index.write() as conn:
            info = self.index.credentials.get(self.name)
            journal = info.rotation
            if journal is None or journal.owner != self.owner:
                raise RotationError(
                    f"the rotation of {self.name} was cancelled (revoked or removed) or taken "
                    "over by another process while it ran; see mcp-vault show "
                    f"{self.name} and mcp-vault audit"
                )
            if journal.step != step:
                raise RotationError(
                    f"the rotation of {self.name} is at step {journal.step}, not {step}; "
                    f"run mcp-vault rotate {self.name} --resume"
                )
            yield info, conn

    def run(self, journal: RotationInfo, value: str | None) -> RotationResult:
        step = journal.step
        version = journal.to_version
        if step == "create":
            self.create(version, value)
            step = "push"
        if self.value is None:
            self.value = self._stored_value(version)
        if step == "push":
            self.push(version)
            step = "test"
        if step == "test":
            self.test(version)
            step = "finish"
        kind, kid, ended = self.finish(version, journal.grace)
        return RotationResult(
            self.name, kind, journal.from_version, version, kid, self.value, ended=ended
        )

    def create(self, version: int, value: str | None) -> None:
        info = self.index.credentials.get(self.name)
        kid: str | None = None
        digest: bytes | None = None
        if info.kind == "token":
            new_value = tokens.generate()
            parsed = tokens.parse(new_value)
            assert parsed is not None
            kid, digest = parsed.kid, tokens.hash_secret(parsed.secret)
        elif info.generator is not None:
            new_value = self._generate(info, version)
        elif value is None:
            raise UsageError(
                f"the interrupted rotation of the secret {self.name} had not stored its new "
                f"value yet; run mcp-vault rotate {self.name} with the new value on stdin"
            )
        else:
            new_value = value
        key = self.store.value_key(self.name, version)
        written = False
        try:
            with self._step("create") as (info, conn):
                self.index.versions.insert(info.id, version, "pending", kid, digest, time.time())
                self.index.rotations.update(info.id, time.time(), step="push")
                audit.record(conn, "rotate.create", credential=self.name, version=version, kid=kid)
                # Written under the index's write lock, after the ownership check and before the
                # commit: a process that lost the rotation never touches the winner's value, and
                # a committed pending version always has its value.
                self.store.backend.set(self.store.service, key, new_value)
                written = True
        except BaseException:
            if written:
                self.store.forget(self.name, version)
            raise
        self.value = new_value
        self.checkpoint("create")

    def push(self, version: int) -> None:
        assert self.value is not None
        info = self.index.credentials.get(self.name)
        for link in info.links:
            if link.pushed_version >= version:
                continue
            where = f"{link.kind} {link.vault_id} ({link.url})"
            try:
                pusher = pusher_for(link.kind)
                ref = pusher.push(link, self.value)
            except Exception as exc:
                reason = self._failed("rotate.push", version, exc, where)
                raise PushError(
                    f"pushing version {version} of {self.name} to {where} failed: {reason}; "
                    f"both tokens stay valid; fix it and run mcp-vault rotate {self.name} --resume"
                ) from exc
            with self._step("push") as (_, conn):
                self.index.links.update(link.id, time.time(), pushed_version=version)
                if ref is not None or hasattr(pusher, "retire"):
                    self.index.pushes.record(link.id, version, ref, time.time())
                audit.record(
                    conn, "rotate.push", credential=self.name, version=version, detail=where
                )
        with self._step("push") as (info, _):
            self.index.rotations.update(info.id, time.time(), step="test")
        self.checkpoint("push")

    def test(self, version: int) -> None:
        assert self.value is not None
        if self.tester is not None:
            try:
                self.tester(self.name, self.value)
            except Exception as exc:
                reason = self._failed("rotate.test", version, exc)
                raise RotationError(
                    f"testing version {version} of {self.name} failed: {reason}; both tokens stay "
                    f"valid; fix it and run mcp-vault rotate {self.name} --resume"
                ) from exc
        with self._step("test") as (info, conn):
            self.index.rotations.update(info.id, time.time(), step="finish")
            audit.record(conn, "rotate.test", credential=self.name, version=version)
        self.checkpoint("test")

    def finish(self, version: int, grace: float) -> tuple[str, str | None, tuple[int, ...]]:
        forget: list[int] = []
        ended: list[int] = []
        grace = min(grace, MAX_GRACE)  # a journal an older mcp-vault wrote may hold any grace
        with self._step("finish") as (info, conn):
            now = time.time()
            new = next((v for v in info.versions if v.version == version), None)
            if new is None or new.state != "pending":
                self.index.rotations.delete(info.id)
                audit.record(
                    conn,
                    "rotate.finish",
                    credential=self.name,
                    version=version,
                    outcome="cancelled",
                    detail="the new version is no longer pending",
                )
                cancelled = True
            else:
                cancelled = False
                forget, ended = self._retire_older(info, conn, version, grace, now)
                self.index.versions.set_state(info.id, version, "current")
                self.index.rotations.delete(info.id)
                self.index.credentials.touch(info.id, now)
                audit.record(
                    conn,
                    "rotate.finish",
                    credential=self.name,
                    version=version,
                    kid=new.kid,
                    detail=f"grace {period(grace)}",
                )
        if cancelled:
            raise RotationError(
                f"the rotation of {self.name} was cancelled: version {version} was revoked; "
                f"run mcp-vault rotate {self.name} to start a new one"
            )
        for old_version in forget:
            self.store.forget(self.name, old_version)
        self.checkpoint("finish")
        return info.kind, new.kid if new else None, tuple(ended)

    def _retire_older(
        self, info: CredentialInfo, conn: Connection, version: int, grace: float, now: float
    ) -> tuple[list[int], list[int]]:
        """The current version becomes previous (for ``grace``); every older previous is retired,
        its grace window ended early if it was still open, so that at most current + previous
        (+ pending) are live. Returns the versions whose values to forget, and those ended."""
        forget: list[int] = []
        ended: list[int] = []
        for old in info.versions:
            if old.state == "current" and grace <= 0:
                self.index.versions.set_state(info.id, old.version, "retired", now)
            elif old.state == "current":
                self.index.versions.set_state(info.id, old.version, "previous", now + grace)
            elif old.state == "previous":
                self.index.versions.set_state(info.id, old.version, "retired")
                if old.not_after is not None and old.not_after.timestamp() > now:
                    ended.append(old.version)
                    audit.record(
                        conn, "rotate.end-grace", credential=self.name, version=old.version,
                        kid=old.kid, detail=f"grace window ended early by v{version}",
                    )  # fmt: skip
            else:
                continue
            forget.append(old.version)
        return forget, ended

    def _generate(self, info: CredentialInfo, version: int) -> str:
        assert info.generator is not None
        try:
            value = generator_for(info.generator).generate(info)
        except Exception as exc:
            reason = self._failed("rotate.generate", version, exc, info.generator)
            raise RotationError(
                f"making version {version} of {self.name} ({info.generator}) failed: {reason}; "
                f"the current value stays; fix it and run mcp-vault rotate {self.name} --resume"
            ) from exc
        if not isinstance(value, str) or not value:
            raise RotationError(f"the generator {info.generator} made an empty value")
        self.checkpoint("generate")
        return value

    def _failed(self, action: str, version: int, exc: Exception, where: str = "") -> str:
        # A foreign exception's text may echo what it was given (the new value): keep it out.
        reason = str(exc) if isinstance(exc, VaultError) else type(exc).__name__
        with self.index.write() as conn:
            audit.record(
                conn, action, credential=self.name, version=version, outcome="failed",
                detail=f"{where}: {reason}" if where else reason,
            )  # fmt: skip
        return reason

    def _stored_value(self, version: int) -> str:
        value = self.store.backend.get(self.store.service, self.store.value_key(self.name, version))
        if value is None:
            raise RotationError(
                f"the new value of {self.name} (version {version}) is missing from the keyring "
                f"({self.store.backend.name}); run mcp-vault revoke {self.name} --version "
                f"{version}, then mcp-vault rotate {self.name}"
            )
        return value


def _nothing_to_resume(info: CredentialInfo) -> str:
    """Why ``--resume`` has nothing to do, and the way out when a finished rotation's output
    was lost (a crash after ``finish``): a new rotation would end the previous version's grace
    while the platform may still hold it."""
    current = info.current
    if current is None:
        return (
            f"nothing to resume: {info.name} has no interrupted rotation; "
            f"run mcp-vault rotate {info.name} to start one"
        )
    when = current.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"nothing to resume: {info.name} has no interrupted rotation, its last one made "
        f"v{current.version} current ({when}); if that rotation's output was lost, "
        f"`mcp-vault get {info.name} --reveal` shows the current value (rotating again now "
        "would end the older version's grace window)"
    )
