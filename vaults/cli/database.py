"""The ``mcp-vault`` commands on the store's database: migrate, export and import."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from vaults.cli.group import Options, cli, note


@cli.command()
@click.pass_obj
def migrate(options: Options) -> None:
    """Bring the store's index to this version's schema (once per upgrade, from any host)."""
    with options.open(create=False, upgrade=True) as store:
        before, after = store.index.upgraded
    if before == after:
        click.echo(f"index {store.location}: schema v{after}, nothing to do")
    else:
        click.echo(f"index {store.location}: schema v{before} -> v{after}")


_key_file = functools.partial(
    click.option, "--key-file", type=click.Path(dir_okay=False, path_type=Path)
)

file_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))


@cli.command(name="export")
@file_argument
@_key_file(help="Where to write the transfer key (default: FILE.key).")
@click.pass_obj
def export_(options: Options, file: Path, key_file: Path | None) -> None:
    """Write the store (index rows, audit, values sealed under a new key) to FILE."""
    from vaults import transfer  # imports the cipher (and keyring): not for mcp-vault list

    with options.open(create=False) as store:
        done = transfer.export(store, file, key_path=key_file)
    if done.missing:
        note(f"not in the keyring, so not exported: {', '.join(done.missing)}")
    click.echo(
        f"exported {done.credentials} credentials, {done.values} values and {done.audit_rows} "
        f"audit rows to {done.path}; its key is {done.key_path} (keep both private, move them "
        "apart if you can)"
    )


@cli.command(name="import")
@file_argument
@_key_file(help="The transfer key export wrote (default: FILE.key).")
@click.pass_obj
def import_(options: Options, file: Path, key_file: Path | None) -> None:
    """Load FILE (from mcp-vault export) into this store, which must hold no credential."""
    from vaults import transfer

    with options.open(create=True) as store:
        done = transfer.import_(store, file, key_path=key_file)
        location, store_id = store.location, store.store_id
    click.echo(
        f"imported {done.credentials} credentials and {done.values} values into {location} "
        f"(store id {store_id})"
    )
