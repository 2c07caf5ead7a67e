"""The ``mcp-bridge`` command group and what its commands share (options, config, store)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bridge.config import BridgeConfig
    from vaults.store import Store

PROG = "mcp-bridge"


def config_path(value: str | None) -> Path:
    """``--config``, else ``MCP_BRIDGE_CONFIG``, else ``./bridge.toml``."""
    return Path(value or os.environ.get("MCP_BRIDGE_CONFIG") or "bridge.toml")


def open_store(store: str | None, cfg: BridgeConfig | None = None) -> Store:
    """The vault store: ``--store`` (else MCP_VAULT_DIR...), its index in PostgreSQL when
    MCP_VAULT_DATABASE_URL, else the config's ``[store] database_url``, names one."""
    from vaults.paths import resolve_database_url
    from vaults.store import Store

    configured = cfg.store.database_url if cfg is not None else None
    return Store.open(Path(store) if store else None, database_url=resolve_database_url(configured))


def load(config: str | None, overrides: dict[str, Any] | None = None) -> BridgeConfig:
    from bridge.config import load_config

    return load_config(config_path(config), overrides=overrides)


store_option = click.option(
    "--store",
    "store",
    metavar="DIR",
    help="Vault store directory (default: $MCP_VAULT_DIR, else the per-user default).",
)
config_option = click.option(
    "--config",
    "config",
    metavar="FILE",
    help="Bridge config (default: $MCP_BRIDGE_CONFIG, else ./bridge.toml).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mcp-bridge")
def cli() -> None:
    """Expose in-house tools to Anthropic managed agents over MCP, behind vault tokens."""
