"""The ``mcp-vault`` commands on the store: init, add, list, show, get, rotate, revoke, remove,
audit and doctor. Each parses, calls the library, prints."""

from __future__ import annotations

import sys
from typing import Any

import click

from vaults import audit, doctor, rotation
from vaults.cli.group import (
    Options,
    bridge_url,
    cli,
    config_option,
    duration,
    emit,
    note,
    public_url_option,
    read_value,
)
from vaults.errors import UsageError
from vaults.index import period, stamp
from vaults.inputs import MAX_ROTATE_EVERY
from vaults.remote import install_pusher


@cli.command()
@click.pass_obj
def init(options: Options) -> None:
    """Create the store (idempotent) and check that the keyring works."""
    with options.open(create=True) as store:
        store.init()
        schema = store.index.schema_version
        click.echo(f"vault store {store.location} (id {store.store_id}, schema v{schema})")
        click.echo(f"keyring: {store.backend.name}: {store.backend.description}")


@cli.command()
@click.argument("name")
@click.option("--kind", type=click.Choice(["token", "secret"]), required=True)
@click.option("--scope", "scopes", multiple=True, metavar="TOOL", help="Tool name glob (tokens).")
@click.option(
    "--rotate-every", metavar="DURATION", help="Rotation period (tokens), e.g. 30d; at most 3650d."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def add(
    options: Options,
    name: str,
    kind: str,
    scopes: tuple[str, ...],
    rotate_every: str | None,
    as_json: bool,
) -> None:
    """Add a token (printed once) or a secret (read from stdin or a hidden prompt)."""
    every = duration(rotate_every, "--rotate-every", MAX_ROTATE_EVERY)
    if kind == "secret":
        if scopes or every is not None:
            raise UsageError("--scope and --rotate-every apply to tokens only")
        value = read_value(name)
        with options.open(create=True) as store:
            info = store.add_secret(name, value)
        if as_json:
            emit(info.to_dict())
        else:
            click.echo(f"added secret {name} (version 1)")
        return
    with options.open(create=True) as store:
        minted = store.add_token(name, scopes=scopes, rotate_every=every)
    if as_json:
        emit(
            {
                "name": minted.name,
                "version": minted.version,
                "kid": minted.kid,
                "token": minted.token,
            }
        )
    else:
        note(f"added token {name} (version 1, kid {minted.kid}); it is shown only once")
        click.echo(minted.token)


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(options: Options, as_json: bool) -> None:
    """Names, kinds, versions and states (never values)."""
    with options.open(create=False) as store:
        credentials = store.list()
    if as_json:
        emit([info.to_dict() for info in credentials])
        return
    if not credentials:
        note("the store is empty; add a credential with mcp-vault add NAME --kind token")
        return
    rows = [("NAME", "KIND", "VERSIONS", "SCOPES", "ROTATE")]
    for info in credentials:
        scopes = ",".join(info.scopes) or ("*" if info.kind == "token" else "-")
        rows.append((info.name, info.kind, info.summary(), scopes, period(info.rotate_every)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]))


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show(options: Options, name: str, as_json: bool) -> None:
    """One credential's versions, rotation and links (never its value)."""
    with options.open(create=False) as store:
        info = store.show(name)
    if as_json:
        emit(info.to_dict())
        return
    click.echo(f"name: {info.name}")
    click.echo(f"kind: {info.kind}")
    if info.kind == "token":
        click.echo(f"scopes: {', '.join(info.scopes) or '* (every tool)'}")
        click.echo(f"rotate every: {period(info.rotate_every)}")
    click.echo(f"created: {stamp(info.created_at)}")
    click.echo("versions:")
    for version in info.versions:
        extra = f" until {stamp(version.not_after)}" if version.state == "previous" else ""
        kid = f" kid {version.kid}" if version.kid else ""
        click.echo(
            f"  v{version.version} {version.state}{extra}{kid} created {stamp(version.created_at)}"
        )
    if info.rotation is not None:
        journal = info.rotation
        click.echo(
            f"rotation: to v{journal.to_version} at step {journal.step}, owner {journal.owner}, "
            f"since {stamp(journal.started_at)}"
        )
    for link in info.links:
        click.echo(f"link: {link.kind} {link.vault_id} {link.url} (pushed v{link.pushed_version})")


@cli.command()
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Required: print the current value.")
@click.pass_obj
def get(options: Options, name: str, reveal: bool) -> None:
    """Print the current value (for scripts); needs --reveal."""
    if not reveal:
        raise UsageError(f"add --reveal to print the value of {name} (mcp-vault get NAME --reveal)")
    with options.open(create=False) as store:
        value = store.reveal(name)
    click.echo(value)


@cli.command()
@click.argument("name", required=False)
@click.option(
    "--grace", metavar="DURATION", help="How long the old version stays valid (24h, at most 365d)."
)
@click.option("--due", is_flag=True, help="Rotate every token past its --rotate-every period.")
@click.option("--resume", is_flag=True, help="Finish an interrupted rotation of NAME.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def rotate(
    options: Options,
    name: str | None,
    grace: str | None,
    due: bool,
    resume: bool,
    as_json: bool,
) -> None:
    """Make a new version; the old one stays valid for the grace window."""
    grace_seconds = duration(grace, "--grace", rotation.MAX_GRACE)
    if grace_seconds is None:
        grace_seconds = rotation.DEFAULT_GRACE
    if due:
        if name is not None or resume:
            raise UsageError("--due rotates every due token: give no NAME and no --resume")
        with options.open(create=False) as store:
            install_pusher(store)
            results = rotation.rotate_due(store, grace=grace_seconds)
        if as_json:
            emit(
                [
                    {"name": r.name, "version": r.version, "kid": r.kid, "ended": list(r.ended)}
                    for r in results
                ]
            )
        elif not results:
            note("nothing is due")
        for result in [] if as_json else results:
            click.echo(f"rotated {result.name} to version {result.version} (kid {result.kid})")
            _say_ended(result)
        return
    if name is None:
        raise UsageError("give a NAME to rotate, or --due")
    with options.open(create=False) as store:
        install_pusher(store)
        kind = store.show(name).kind
        value = read_value(name) if kind == "secret" and not resume else None
        result = rotation.rotate(store, name, grace=grace_seconds, resume=resume, value=value)
    if result.resumed:
        note(f"finished the interrupted rotation of {name} (version {result.version})")
    if not as_json:
        _say_ended(result)
    if as_json:
        data: dict[str, Any] = {
            "name": result.name,
            "version": result.version,
            "kid": result.kid,
            "resumed": result.resumed,
            "ended": list(result.ended),
        }
        if result.token is not None:
            data["token"] = result.token
        emit(data)
    elif result.token is not None:
        note(
            f"rotated {name} to version {result.version} (kid {result.kid}); the old version "
            f"stays valid for {period(grace_seconds)}; the new token is shown only once"
        )
        click.echo(result.token)
    else:
        click.echo(f"rotated {name} to version {result.version}")


def _say_ended(result: rotation.RotationResult) -> None:
    if result.ended:
        versions = ", ".join(f"v{number}" for number in result.ended)
        note(
            f"{result.name}: ended the grace window of {versions} (only the version just "
            "replaced stays valid for the grace)"
        )


@cli.command()
@click.argument("name")
@click.option("--version", "version", type=int, metavar="N", help="Only this version.")
@click.pass_obj
def revoke(options: Options, name: str, version: int | None) -> None:
    """Revoke now (every live version without --version); the bridge rejects it within 1 s."""
    with options.open(create=False) as store:
        revoked = store.revoke(name, version=version)
    if revoked:
        listed = ", ".join(f"v{number}" for number in revoked)
        click.echo(f"revoked {name} {listed}")
    else:
        click.echo(f"{name} has no live version to revoke")


@cli.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def remove(options: Options, name: str, yes: bool) -> None:
    """Delete NAME and its values (the audit trail keeps its history)."""
    if not yes and sys.stdin.isatty():
        click.confirm(f"remove {name} and its values?", abort=True, err=True)
    with options.open(create=False) as store:
        store.remove(name)
    click.echo(f"removed {name}")


@cli.command(name="audit")
@click.option("--since", metavar="WHEN", help="ISO time or duration back from now (e.g. 24h).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def audit_(options: Options, since: str | None, as_json: bool) -> None:
    """Every change: time, OS user, action, credential, version, key id, outcome."""
    moment = None if since is None else audit.parse_since(since)
    with options.open(create=False) as store:
        rows = store.audit(since=moment)
    if as_json:
        emit([row.to_dict() for row in rows])
        return
    for row in rows:
        fields = [
            stamp(row.at),
            row.os_user,
            row.action,
            row.credential or "-",
            f"v{row.version}" if row.version is not None else "-",
            row.kid or "-",
            row.outcome,
        ]
        if row.detail:
            fields.append(row.detail)
        click.echo("  ".join(fields))


@cli.command(name="doctor")
@config_option
@public_url_option
@click.option(
    "--accept-wal-loss",
    is_flag=True,
    help="Keep the state before a damage in index.db-wal (what follows it is dropped).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def doctor_(
    options: Options,
    config: str | None,
    public_url: str | None,
    accept_wal_loss: bool,
    as_json: bool,
) -> None:
    """Check the backend, permissions, index, values, rotations and remote links."""
    with options.open(create=False, accept_wal_loss=accept_wal_loss) as store:
        lost = store.index.accepted_loss
        if lost is not None:
            note(
                f"accepted the loss of {lost.frames} frames ({lost.transactions} committed "
                "transactions) of a damaged index.db-wal; the store is as it was before them"
            )
        checks = doctor.checks(store, public_url=bridge_url(config, public_url))
    if as_json:
        emit([check.to_dict() for check in checks])
    else:
        for check in checks:
            click.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        raise click.exceptions.Exit(1)
