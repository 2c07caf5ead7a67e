"""The ``mcp-vault`` command group, its global options and the output helpers of its commands."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mcpb.durations import DurationError, parse_duration
from vaults import inputs
from vaults import public_url as public_urls
from vaults.errors import UsageError
from vaults.store import Store

PROG = "mcp-vault"


@dataclass(frozen=True)
class Options:
    """The group's options, handed to every command."""

    store_dir: str | None
    backend: str | None

    def open(
        self, *, create: bool, accept_wal_loss: bool = False, upgrade: bool | None = None
    ) -> Store:
        return Store.open(
            Path(self.store_dir) if self.store_dir else None,
            backend=self.backend,
            create=create,
            accept_wal_loss=accept_wal_loss,
            upgrade=upgrade,
        )


def emit(data: Any) -> None:
    """Print ``data`` as JSON (``--json``)."""
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr (stdout stays for the data)."""
    click.echo(f"{PROG}: {message}", err=True)


def duration(value: str | None, option: str, maximum: float) -> float | None:
    """Seconds in ``option``'s value (None if not given), at most ``maximum``; UsageError naming
    the option otherwise."""
    if value is None:
        return None
    try:
        return parse_duration(value, maximum=maximum)
    except DurationError as exc:
        raise UsageError(f"{option}: {exc}") from exc


def read_value(name: str) -> str:
    """The value of ``name`` from a hidden prompt (a terminal) or stdin, never from argv."""
    if sys.stdin.isatty():
        text = click.prompt(
            f"Value for {name}", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        text = sys.stdin.read()
    return inputs.value_from_input(name, str(text))


def bridge_url(config: str | None, explicit: str | None) -> str | None:
    """The bridge's public URL: ``explicit``, else the one the bridge derives from ``config``."""
    if explicit or not config:
        return explicit
    return public_urls.from_config(Path(config))


config_option = click.option("--config", metavar="FILE", help="Bridge config (for its public_url).")
public_url_option = click.option("--public-url", metavar="URL", help="The bridge's public URL.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_dir",
    metavar="DIR",
    help="Vault store directory (default: $MCP_VAULT_DIR, else the per-user data directory); "
    "the index is there unless $MCP_VAULT_DATABASE_URL names a PostgreSQL database.",
)
@click.option(
    "--backend",
    metavar="MODULE.CLASS",
    help="keyring backend to use (default: keyring's own rules, else the encrypted file backend).",
)
@click.pass_context
def cli(ctx: click.Context, store_dir: str | None, backend: str | None) -> None:
    """Keep bridge tokens and tool secrets in the keyring; rotate, revoke and audit them."""
    ctx.obj = Options(store_dir, backend)
