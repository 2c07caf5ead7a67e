"""Secrets whose new values a generator makes, and links that act when a version retires."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.vaults._vault import run_cli
from vaults import Link, PushError, RotationError, Store, UsageError, links
from vaults.index import CredentialInfo
from vaults.rotation import (
    assign,
    expire,
    plugins,
    register_generator,
    register_pusher,
    rotate,
    rotate_due,
    run_hooks,
    unregister_generator,
    unregister_pusher,
)


class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    def generate(self, info: CredentialInfo) -> str:
        self.calls += 1
        return f"{info.name}-value-{self.calls}"


class _Archiver:
    """Pushes a version as a remote object; archives it when the version retires."""

    def __init__(self) -> None:
        self.live: dict[str, str] = {}
        self.archived: list[str] = []
        self.fail_retire = False

    def push(self, link: Link, value: str) -> str:
        ref = f"obj-{len(self.live) + len(self.archived) + 1}"
        self.live[ref] = value
        return ref

    def retire(self, link: Link, version: int, ref: str | None) -> None:
        if self.fail_retire:
            raise PushError("remote said 503")
        assert ref is not None
        if ref in self.live:
            del self.live[ref]
            self.archived.append(ref)


@pytest.fixture
def counter() -> Iterator[_Counter]:
    made = _Counter()
    register_generator("test-counter", made)
    yield made
    unregister_generator("test-counter")


@pytest.fixture
def archiver() -> Iterator[_Archiver]:
    made = _Archiver()
    register_pusher("test-archive", made)
    yield made
    unregister_pusher("test-archive")


def test_a_generated_secret_rotates_without_a_value(store: Store, counter: _Counter) -> None:
    store.add_secret("ca", "first")
    assign(store, "ca", "test-counter", rotate_every=60)

    result = rotate(store, "ca")

    assert (result.version, result.value, counter.calls) == (2, "ca-value-1", 1)
    assert store.secret("ca") == "ca-value-1"
    info = store.show("ca")
    assert (info.generator, info.rotate_every) == ("test-counter", 60)
    with pytest.raises(UsageError, match="made by its generator"):
        rotate(store, "ca", value="typed")
    actions = [row.action for row in store.audit()]
    assert "generator.set" in actions and "rotate.finish" in actions


def test_a_generated_secret_is_rotated_when_due(store: Store, counter: _Counter) -> None:
    store.add_secret("ca", "first")
    store.add_secret("plain", "kept")
    assign(store, "ca", "test-counter", rotate_every=60)

    assert rotate_due(store) == []
    results = rotate_due(store, now=time.time() + 61)

    assert [r.name for r in results] == ["ca"]
    assert store.secret("plain") == "kept"


def test_a_missing_generator_says_what_to_install(store: Store) -> None:
    store.add_secret("ca", "first")
    assign(store, "ca", "nobody-provides-this", rotate_every=None)

    with pytest.raises(RotationError, match="no generator named 'nobody-provides-this'"):
        rotate(store, "ca")
    assert store.secret("ca") == "first"


def test_a_retired_version_is_archived_once_by_its_link(
    store: Store, counter: _Counter, archiver: _Archiver
) -> None:
    store.add_secret("ca", "first")
    assign(store, "ca", "test-counter", rotate_every=None)
    links.add(store, "ca", kind="test-archive", vault_id="remote", url="https://x.example/mcp")

    rotate(store, "ca", grace=3600)
    rotate(store, "ca", grace=3600)  # v1 retired early, v2 previous, v3 current

    assert archiver.archived == []  # v1 was never pushed by rotation: nothing to undo
    assert sorted(archiver.live) == ["obj-1", "obj-2"]
    expire(store, now=time.time() + 3601)
    assert run_hooks(store) == []
    assert archiver.archived == ["obj-1"] and list(archiver.live) == ["obj-2"]
    assert run_hooks(store) == []
    assert archiver.archived == ["obj-1"]
    assert [v.state for v in store.show("ca").versions] == ["current", "retired", "retired"]


def test_a_failed_retire_hook_is_reported_and_retried(
    store: Store, counter: _Counter, archiver: _Archiver
) -> None:
    store.add_secret("ca", "first")
    assign(store, "ca", "test-counter", rotate_every=30)
    links.add(store, "ca", kind="test-archive", vault_id="remote", url="https://x.example/mcp")
    rotate(store, "ca", grace=0)
    archiver.fail_retire = True

    result = rotate(store, "ca", grace=0)

    assert result.retire_failures and "remote said 503" in result.retire_failures[0]
    with pytest.raises(RotationError, match="retiring old versions failed"):
        rotate_due(store)
    archiver.fail_retire = False
    rotate_due(store)
    assert archiver.archived == ["obj-1"]
    failed = [r for r in store.audit() if r.action == "rotate.retire-push"]
    assert [r.outcome for r in failed] == ["failed", "failed", "ok"]


def test_a_crash_after_the_generator_leaves_the_current_value(
    store: Store, counter: _Counter
) -> None:
    store.add_secret("ca", "first")
    assign(store, "ca", "test-counter", rotate_every=None)

    def crash(step: str) -> None:
        if step == "generate":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate(store, "ca", checkpoint=crash)
    assert store.secret("ca") == "first"
    resumed = rotate(store, "ca", resume=True)
    assert resumed.resumed and resumed.value == "ca-value-2" and counter.calls == 2


def test_the_cli_finds_rotation_plugins_through_entry_points(store: Store) -> None:
    assert "anthropic" in plugins.install(store)
    store.add_secret("ca", "first")
    assign(store, "ca", "not-installed", rotate_every=None)

    done = run_cli("rotate", "ca", input="")

    assert done.returncode == 1
    assert "no generator named 'not-installed'" in done.stderr
    shown = run_cli("show", "ca")
    assert "generated by: not-installed" in shown.stdout
