"""``mcp-bridge tunnel up | status | down``: reach the bridge from Anthropic's cloud."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

import click

from bridge.cli.group import PROG, cli, config_option, config_path, open_store, store_option
from bridge.errors import TunnelError

if TYPE_CHECKING:
    from bridge.tunnel.setup import Setup


@cli.group(name="tunnel")
def tunnel_() -> None:
    """Serve the bridge through an Anthropic MCP tunnel (beta mcp-tunnels-2026-06-22)."""


def _setup(config: str | None, store: str | None) -> Setup:
    from bridge.config import load_config
    from bridge.tunnel.api import TunnelsApi, client_for
    from bridge.tunnel.setup import Setup

    path = config_path(config)
    loaded = load_config(path)
    workspace = loaded.tunnel.workspace
    vault = open_store(store, loaded)
    return Setup(path, vault, TunnelsApi(client_for(vault), workspace=workspace))


@tunnel_.command(name="up")
@config_option
@store_option
@click.option("--name", metavar="NAME", help="Tunnel display name (default: [server] name).")
@click.option(
    "--vault", metavar="VAULT", help="Also link the bridge's tokens in this vault (vlt_ or name)."
)
def up(config: str | None, store: str | None, name: str | None, vault: str | None) -> None:
    """Create or adopt the tunnel, write the deployment folder, point the bridge at it."""
    setup = _setup(config, store)
    with setup.store:
        outcome = setup.up(name=name, vault=vault)
    for change in outcome.changes:
        click.echo(f"  {change}")
    if not outcome.changes:
        click.echo("  nothing to change: the tunnel, the folder and the links are in place")
    for note in outcome.notes:
        click.echo(f"{PROG}: note: {note}", err=True)
    folder = shlex.quote(str(outcome.folder))
    click.echo(f"tunnel {outcome.tunnel_id}: {outcome.url}")
    click.echo("next:")
    click.echo(f"  (cd {folder} && docker compose up -d)")
    click.echo(f"  {PROG} serve --config {shlex.quote(str(setup.path))}")


@tunnel_.command(name="status")
@config_option
@store_option
def status_(config: str | None, store: str | None) -> None:
    """Check the tunnel, its certificates, token, folder, vault links and the bridge."""
    from bridge.tunnel.status import status

    setup = _setup(config, store)
    with setup.store:
        checks = status(setup.path, setup.store, setup.api)
    for check in checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        raise click.exceptions.Exit(1)


@tunnel_.command(name="down")
@config_option
@store_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def down(config: str | None, store: str | None, yes: bool) -> None:
    """Archive the tunnel for ever (its hostname is never given out again)."""
    setup = _setup(config, store)
    tunnel_id = setup.config.tunnel.id
    if tunnel_id is None:
        raise TunnelError(f"{setup.path} names no tunnel ([tunnel] id); nothing to archive")
    warning = (
        f"archive tunnel {tunnel_id}? This cannot be undone: its hostname is gone for ever, and "
        f"every agent and vault credential using {setup.config.server.public_url} must change"
    )
    if not yes:
        if not sys.stdin.isatty():
            raise TunnelError(f"{warning}; pass --yes to confirm")
        click.confirm(warning, abort=True, err=True)
    from bridge.tunnel.setup import folder_of

    with setup.store:
        changes = setup.down()
    for change in changes:
        click.echo(f"  {change}")
    folder = shlex.quote(str(folder_of(setup.config)))
    click.echo(f"next: stop the stack: (cd {folder} && docker compose down)")
