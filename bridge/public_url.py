"""The bridge's answer to ``mcp-vault ... --config FILE``: the public URL its config serves at.

Registered in ``pyproject.toml`` under the entry-point group ``mcp_vault.public_url`` (see
``vaults.public_url``), so that the vault manager can read a bridge config without importing the
bridge.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config


def from_config(path: Path) -> str:
    """``[server] public_url`` of the config at ``path`` (with the bridge's environment
    overrides and its default from host and port); a ConfigError says what is wrong."""
    return load_config(path).server.public_url
