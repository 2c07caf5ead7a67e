"""Where the vault store lives, and keeping its files private (dir 0700, files 0600).

A store is its directory (``--store DIR``, ``MCP_VAULT_DIR``, the per-user default) and its
index: ``index.db`` in that directory, or a PostgreSQL database when ``MCP_VAULT_DATABASE_URL``
(else the bridge config's ``[store] database_url``) names one.
"""

from __future__ import annotations

import os
from pathlib import Path

from vaults.errors import StoreError, UsageError

ENV_VAR = "MCP_VAULT_DIR"
DATABASE_ENV = "MCP_VAULT_DATABASE_URL"
DATABASE_SCHEMES = ("postgresql://", "postgres://")
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


def resolve_database_url(configured: str | None = None) -> str | None:
    """The PostgreSQL URL of the index, or None for SQLite in the store directory.

    One precedence: ``MCP_VAULT_DATABASE_URL``, then ``configured`` (the bridge config's
    ``[store] database_url``). UsageError for a URL of another scheme.
    """
    env = os.environ.get(DATABASE_ENV)
    url, source = (env, DATABASE_ENV) if env else (configured, "[store] database_url")
    if not url:
        return None
    if not url.startswith(DATABASE_SCHEMES):
        raise UsageError(
            f"{source} must be a postgresql:// URL (unset it to keep the index in the store "
            "directory)"
        )
    return url


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
