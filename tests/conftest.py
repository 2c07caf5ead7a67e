"""Suite-wide isolation: no test touches the developer's keyring or home directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.fakes.fixtures", "tests.support.postgres"]

_KEEP_BACKEND = os.environ.get("MCP_TEST_KEEP_KEYRING_BACKEND") == "1"


@pytest.fixture(autouse=True)
def _isolated_user_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point HOME, XDG dirs and the vault store at a fresh temp dir for every test.

    The keyring backend is pinned to the project's encrypted backend unless the Secret Service
    job asked to keep its own (it exports MCP_TEST_KEEP_KEYRING_BACKEND=1).
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(home / sub))
    store = home / "vault"
    monkeypatch.setenv("MCP_VAULT_DIR", str(store))
    if not _KEEP_BACKEND:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "vaults.backend.EncryptedKeyring")
    for var in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "CREDENTIALS_DIRECTORY",
        "MCP_VAULT_DATABASE_URL",
        "MCP_VAULT_DATA_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):
        if var.startswith("MCP_BRIDGE_"):
            monkeypatch.delenv(var, raising=False)
    yield home
