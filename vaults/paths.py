"""Where the vault store lives, and keeping its files private (dir 0700, files 0600)."""

from __future__ import annotations

import os
from pathlib import Path

from vaults.errors import StoreError

ENV_VAR = "MCP_VAULT_DIR"
APP_NAME = "mcp-vault"


def default_store_dir() -> Path:
    """The store directory when neither ``--store`` nor ``MCP_VAULT_DIR`` is given."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_store_dir(explicit: Path | str | None = None) -> Path:
    """One precedence: explicit argument, then ``MCP_VAULT_DIR``, then the per-user default."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_store_dir()


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing and make it 0700."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o777 != 0o700:
            path.chmod(0o700)
    except OSError as exc:
        raise StoreError(
            f"cannot create the store directory {path}: {exc.strerror}; "
            f"check its permissions or pick another one with --store DIR or {ENV_VAR}"
        ) from exc
    return path


def ensure_private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, without ever exposing it, and make it 0600."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        make_private(path)
    except OSError as exc:
        raise StoreError(
            f"cannot create {path}: {exc.strerror}; check the permissions of {path.parent}"
        ) from exc
    return path


def make_private(path: Path) -> None:
    """chmod 0600 if the file exists and is not already private."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return
    if mode != 0o600:
        path.chmod(0o600)
