"""Helpers shared by the vault tests: subprocess runs of mcp-vault and store inspection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vaults.store import Store

ROOT = Path(__file__).resolve().parents[2]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(
    *args: str, input: str | None = None, timeout: float = 30, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``python -m vaults.cli ARGS`` as a real process (the installed script is the same)."""
    return subprocess.run(
        [sys.executable, "-m", "vaults.cli", *args],
        input=input,
        capture_output=True,
        text=True,
        env=subprocess_env(**extra),
        timeout=timeout,
        check=False,
    )


def accepted_with_value(store: Store, name: str) -> list[int]:
    """Versions of ``name`` that the verifier accepts AND whose value is in the keyring."""
    found = []
    with store.token_index() as verifier:
        for version in store.show(name).versions:
            value = store.backend.get(store.service, store.value_key(name, version.version))
            if value is not None and verifier.verify(value) is not None:
                found.append(version.version)
    return found


def consistent(store: Store, name: str) -> None:
    """Invariants of one credential's versions, whatever happened before."""
    info = store.show(name)
    states = [v.state for v in info.versions]
    assert states.count("current") <= 1, states
    assert states.count("pending") <= 1, states
    if "pending" in states:
        assert info.rotation is not None, "a pending version without a rotation in progress"
    if info.rotation is not None and info.rotation.step != "create":
        pending = info.pending
        assert pending is not None and pending.version == info.rotation.to_version
    numbers = [v.version for v in info.versions]
    assert numbers == sorted(set(numbers), reverse=True)
