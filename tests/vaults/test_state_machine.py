"""A hypothesis state machine over add / rotate / resume / revoke / remove / verify.

Crashes are injected in-process by raising at the rotation's step boundaries; the model says
which tokens the verifier must accept, and the invariants hold after every step.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.vaults._vault import consistent
from vaults import AlreadyExistsError, NotFoundError, RotationError, Store, rotation

NAMES = st.sampled_from(["a", "b"])
CRASHES = st.sampled_from([None, None, "start", "create", "push", "test", "finish"])


class _Crash(Exception):
    pass


@dataclass
class _Credential:
    versions: dict[int, str] = field(default_factory=dict)
    live: set[int] = field(default_factory=set)
    current: int | None = None
    pending: int | None = None
    journal_grace: float | None = None


class VaultMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = Store.open(Path(tempfile.mkdtemp(dir=os.environ["HOME"])))
        self.verifier = self.store.token_index(check_interval=3600)
        self.model: dict[str, _Credential] = {}
        self.dead: set[str] = set()

    def teardown(self) -> None:
        self.verifier.close()
        self.store.close()

    def _checkpoint(self, crash: str | None) -> Callable[[str], None]:
        def checkpoint(step: str) -> None:
            if step == crash:
                raise _Crash(step)

        return checkpoint

    @rule(name=NAMES)
    def add(self, name: str) -> None:
        if name in self.model:
            try:
                self.store.add_token(name)
            except AlreadyExistsError:
                return
            raise AssertionError("a duplicate name was accepted")
        minted = self.store.add_token(name)
        self.model[name] = _Credential({1: minted.token}, {1}, current=1)

    def _completed(self, name: str, version: int, token: str, grace: float) -> None:
        cred = self.model[name]
        # Finishing keeps the replaced current for the grace and ends every older window.
        kept = {version} | ({cred.current} if cred.current is not None and grace > 0 else set())
        for ended in cred.live - kept:
            self.dead.add(cred.versions[ended])
        cred.live &= kept
        cred.versions[version] = token
        cred.live.add(version)
        cred.current, cred.pending, cred.journal_grace = version, None, None

    def _rotate(self, name: str, grace: float, crash: str | None, resume: bool) -> None:
        cred = self.model.get(name)
        if cred is None:
            try:
                rotation.rotate(self.store, name, grace=grace, resume=resume)
            except NotFoundError:
                return
            raise AssertionError("rotated an unknown name")
        if resume and cred.journal_grace is None:
            try:
                rotation.rotate(self.store, name, resume=True)
            except RotationError as exc:
                assert "nothing to resume" in str(exc)
                return
            raise AssertionError("resumed a rotation that does not exist")
        effective = grace if cred.journal_grace is None else cred.journal_grace
        try:
            result = rotation.rotate(
                self.store, name, grace=grace, resume=resume, checkpoint=self._checkpoint(crash)
            )
        except _Crash as exc:
            if str(exc) == "finish":
                info = self.store.show(name)
                assert info.current is not None
                self._completed(name, info.current.version, self.store.secret(name), effective)
                return
            cred.journal_grace = effective
            pending = self.store.show(name).pending
            if pending is not None:
                key = self.store.value_key(name, pending.version)
                token = self.store.backend.get(self.store.service, key)
                assert token is not None
                cred.versions[pending.version] = token
                cred.live.add(pending.version)
                cred.pending = pending.version
            return
        assert result.resumed == (cred.journal_grace is not None)
        if cred.pending is not None:
            assert result.version == cred.pending and result.value == cred.versions[cred.pending]
        self._completed(name, result.version, result.value, effective)

    @rule(name=NAMES, grace=st.sampled_from([0, 3600]), crash=CRASHES)
    def rotate(self, name: str, grace: float, crash: str | None) -> None:
        self._rotate(name, grace, crash, resume=False)

    @rule(name=NAMES, crash=CRASHES)
    def resume(self, name: str, crash: str | None) -> None:
        self._rotate(name, 3600, crash, resume=True)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def revoke_one(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.model)))
        cred = self.model[name]
        version = data.draw(st.sampled_from(sorted(cred.versions)))
        revoked = self.store.revoke(name, version=version)
        assert revoked == ([version] if version in cred.live else [])
        if version in cred.live:
            cred.live.discard(version)
            self.dead.add(cred.versions[version])
            if cred.current == version:
                cred.current = None
            if cred.pending == version:
                cred.pending, cred.journal_grace = None, None

    @rule(name=NAMES)
    def revoke_all(self, name: str) -> None:
        cred = self.model.get(name)
        if cred is None:
            return
        assert self.store.revoke(name) == sorted(cred.live, reverse=True)
        self.dead.update(cred.versions[v] for v in cred.live)
        self.model[name] = _Credential(cred.versions)

    @rule(name=NAMES)
    def remove(self, name: str) -> None:
        cred = self.model.pop(name, None)
        if cred is None:
            return
        self.store.remove(name)
        self.dead.update(cred.versions.values())

    @invariant()
    def the_verifier_accepts_exactly_the_live_tokens(self) -> None:
        self.verifier.refresh()
        for name, cred in self.model.items():
            for version, token in cred.versions.items():
                principal = self.verifier.verify(token)
                if version in cred.live:
                    assert principal is not None, (name, version)
                    assert (principal.name, principal.version) == (name, version)
                else:
                    assert principal is None, (name, version)
        for token in self.dead:
            assert self.verifier.verify(token) is None

    @invariant()
    def the_store_is_consistent_and_a_current_value_is_usable(self) -> None:
        for name, cred in self.model.items():
            consistent(self.store, name)
            info = self.store.show(name)
            assert (info.rotation is not None) == (cred.journal_grace is not None)
            assert (info.current.version if info.current else None) == cred.current
            if cred.current is not None:
                value = self.store.secret(name)
                assert value == cred.versions[cred.current]
                assert self.verifier.verify(value) is not None


VaultMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestVaultMachine = VaultMachine.TestCase
