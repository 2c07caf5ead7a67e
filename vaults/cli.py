"""``mcp-vault``: a thin command line over ``vaults.Store``.

Expected errors print one line on stderr (``mcp-vault: error: ...``) and exit 1 (2 for usage).
Values are read from stdin or a hidden prompt, never from argv; only ``add``/``rotate`` of a token
and ``get --reveal`` print one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from mcpb.cli import run
from mcpb.durations import DurationError, format_duration, parse_duration
from vaults import remote
from vaults.errors import UsageError, VaultError
from vaults.index import CredentialInfo
from vaults.remote import install_pusher
from vaults.store import DEFAULT_GRACE, Check, Store

PROG = "mcp-vault"


@dataclass(frozen=True)
class _Options:
    store_dir: str | None
    backend: str | None

    def open(self, *, create: bool) -> Store:
        return Store.open(
            Path(self.store_dir) if self.store_dir else None, backend=self.backend, create=create
        )


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def _note(message: str) -> None:
    click.echo(f"{PROG}: {message}", err=True)


def _duration(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise UsageError(f"{option}: {exc}") from exc


def _read_value(name: str) -> str:
    stdin = sys.stdin
    if stdin.isatty():
        value = click.prompt(
            f"Value for {name}", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        value = stdin.read()
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
    if not value:
        raise UsageError(
            f"no value for {name}: pipe it on stdin (e.g. mcp-vault add {name} --kind secret "
            "< file) or type it at the prompt"
        )
    return str(value)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _versions(info: CredentialInfo) -> str:
    parts = []
    for version in info.versions:
        if version.state == "previous" and version.not_after is not None:
            parts.append(f"v{version.version} previous until {_when(version.not_after)}")
        elif version.state in ("pending", "current"):
            parts.append(f"v{version.version} {version.state}")
    retired = sum(1 for v in info.versions if v.state in ("retired", "revoked"))
    if retired:
        parts.append(f"{retired} retired/revoked")
    if info.rotation is not None:
        parts.append(f"rotating to v{info.rotation.to_version} (step {info.rotation.step})")
    return ", ".join(parts) or "-"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_dir",
    metavar="DIR",
    help="Vault store directory (default: $MCP_VAULT_DIR, else the per-user data directory).",
)
@click.option(
    "--backend",
    metavar="MODULE.CLASS",
    help="keyring backend to use (default: keyring's own rules, else the encrypted file backend).",
)
@click.pass_context
def cli(ctx: click.Context, store_dir: str | None, backend: str | None) -> None:
    """Keep bridge tokens and tool secrets in the keyring; rotate, revoke and audit them."""
    ctx.obj = _Options(store_dir, backend)


@cli.command()
@click.pass_obj
def init(options: _Options) -> None:
    """Create the store (idempotent) and check that the keyring works."""
    with options.open(create=True) as store:
        store.init()
        click.echo(f"vault store {store.store_dir} (id {store.store_id})")
        click.echo(f"keyring: {store.backend.name}: {store.backend.description}")


@cli.command()
@click.argument("name")
@click.option("--kind", type=click.Choice(["token", "secret"]), required=True)
@click.option("--scope", "scopes", multiple=True, metavar="TOOL", help="Tool name glob (tokens).")
@click.option("--rotate-every", metavar="DURATION", help="Rotation period (tokens), e.g. 30d.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def add(
    options: _Options,
    name: str,
    kind: str,
    scopes: tuple[str, ...],
    rotate_every: str | None,
    as_json: bool,
) -> None:
    """Add a token (printed once) or a secret (read from stdin or a hidden prompt)."""
    period = _duration(rotate_every, "--rotate-every")
    if kind == "secret":
        if scopes or period is not None:
            raise UsageError("--scope and --rotate-every apply to tokens only")
        value = _read_value(name)
        with options.open(create=True) as store:
            info = store.add_secret(name, value)
        if as_json:
            _emit(info.to_dict())
        else:
            click.echo(f"added secret {name} (version 1)")
        return
    with options.open(create=True) as store:
        minted = store.add_token(name, scopes=scopes, rotate_every=period)
    if as_json:
        _emit(
            {
                "name": minted.name,
                "version": minted.version,
                "kid": minted.kid,
                "token": minted.token,
            }
        )
    else:
        _note(f"added token {name} (version 1, kid {minted.kid}); it is shown only once")
        click.echo(minted.token)


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(options: _Options, as_json: bool) -> None:
    """Names, kinds, versions and states (never values)."""
    with options.open(create=False) as store:
        credentials = store.list()
    if as_json:
        _emit([info.to_dict() for info in credentials])
        return
    if not credentials:
        _note("the store is empty; add a credential with mcp-vault add NAME --kind token")
        return
    rows = [("NAME", "KIND", "VERSIONS", "SCOPES", "ROTATE")]
    for info in credentials:
        period = format_duration(info.rotate_every) if info.rotate_every else "-"
        scopes = ",".join(info.scopes) or ("*" if info.kind == "token" else "-")
        rows.append((info.name, info.kind, _versions(info), scopes, period))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]))


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show(options: _Options, name: str, as_json: bool) -> None:
    """One credential's versions, rotation and links (never its value)."""
    with options.open(create=False) as store:
        info = store.show(name)
    if as_json:
        _emit(info.to_dict())
        return
    click.echo(f"name: {info.name}")
    click.echo(f"kind: {info.kind}")
    if info.kind == "token":
        click.echo(f"scopes: {', '.join(info.scopes) or '* (every tool)'}")
        period = format_duration(info.rotate_every) if info.rotate_every else "-"
        click.echo(f"rotate every: {period}")
    click.echo(f"created: {_when(info.created_at)}")
    click.echo("versions:")
    for version in info.versions:
        extra = f" until {_when(version.not_after)}" if version.state == "previous" else ""
        kid = f" kid {version.kid}" if version.kid else ""
        click.echo(
            f"  v{version.version} {version.state}{extra}{kid} created {_when(version.created_at)}"
        )
    if info.rotation is not None:
        journal = info.rotation
        click.echo(
            f"rotation: to v{journal.to_version} at step {journal.step}, owner {journal.owner}, "
            f"since {_when(journal.started_at)}"
        )
    for link in info.links:
        click.echo(f"link: {link.kind} {link.vault_id} {link.url} (pushed v{link.pushed_version})")


@cli.command()
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Required: print the current value.")
@click.pass_obj
def get(options: _Options, name: str, reveal: bool) -> None:
    """Print the current value (for scripts); needs --reveal."""
    if not reveal:
        raise UsageError(f"add --reveal to print the value of {name} (mcp-vault get NAME --reveal)")
    with options.open(create=False) as store:
        value = store.reveal(name)
    click.echo(value)


@cli.command()
@click.argument("name", required=False)
@click.option("--grace", metavar="DURATION", help="How long the old version stays valid (24h).")
@click.option("--due", is_flag=True, help="Rotate every token past its --rotate-every period.")
@click.option("--resume", is_flag=True, help="Finish an interrupted rotation of NAME.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def rotate(
    options: _Options,
    name: str | None,
    grace: str | None,
    due: bool,
    resume: bool,
    as_json: bool,
) -> None:
    """Make a new version; the old one stays valid for the grace window."""
    grace_seconds = _duration(grace, "--grace")
    if grace_seconds is None:
        grace_seconds = DEFAULT_GRACE
    if due:
        if name is not None or resume:
            raise UsageError("--due rotates every due token: give no NAME and no --resume")
        with options.open(create=False) as store:
            install_pusher(store)
            results = store.rotate_due(grace=grace_seconds)
        if as_json:
            _emit([{"name": r.name, "version": r.version, "kid": r.kid} for r in results])
        elif not results:
            _note("nothing is due")
        for result in [] if as_json else results:
            click.echo(f"rotated {result.name} to version {result.version} (kid {result.kid})")
        return
    if name is None:
        raise UsageError("give a NAME to rotate, or --due")
    with options.open(create=False) as store:
        install_pusher(store)
        kind = store.show(name).kind
        value = _read_value(name) if kind == "secret" and not resume else None
        result = store.rotate(name, grace=grace_seconds, resume=resume, value=value)
    if result.resumed:
        _note(f"finished the interrupted rotation of {name} (version {result.version})")
    if as_json:
        data: dict[str, Any] = {
            "name": result.name,
            "version": result.version,
            "kid": result.kid,
            "resumed": result.resumed,
        }
        if result.token is not None:
            data["token"] = result.token
        _emit(data)
    elif result.token is not None:
        _note(
            f"rotated {name} to version {result.version} (kid {result.kid}); the old version "
            f"stays valid for {format_duration(grace_seconds)}; the new token is shown only once"
        )
        click.echo(result.token)
    else:
        click.echo(f"rotated {name} to version {result.version}")


@cli.command()
@click.argument("name")
@click.option("--version", "version", type=int, metavar="N", help="Only this version.")
@click.pass_obj
def revoke(options: _Options, name: str, version: int | None) -> None:
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
def remove(options: _Options, name: str, yes: bool) -> None:
    """Delete NAME and its values (the audit trail keeps its history)."""
    if not yes and sys.stdin.isatty():
        click.confirm(f"remove {name} and its values?", abort=True, err=True)
    with options.open(create=False) as store:
        store.remove(name)
    click.echo(f"removed {name}")


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value))
    except DurationError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(
            f"--since {value!r}: give an ISO time (2025-01-31T12:00) or a duration (24h)"
        ) from exc
    return moment if moment.tzinfo else moment.astimezone()


@cli.command(name="audit")
@click.option("--since", metavar="WHEN", help="ISO time or duration back from now (e.g. 24h).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def audit_(options: _Options, since: str | None, as_json: bool) -> None:
    """Every change: time, OS user, action, credential, version, key id, outcome."""
    moment = _since(since)
    with options.open(create=False) as store:
        rows = store.audit(since=moment)
    if as_json:
        _emit([row.to_dict() for row in rows])
        return
    for row in rows:
        fields = [
            _when(row.at),
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


def _public_url(config: str | None, public_url: str | None) -> str | None:
    """The bridge's public URL: --public-url, else the one the bridge derives from --config
    (its ``MCP_BRIDGE_PUBLIC_URL``, ``[server] public_url``, or the default from host and port).
    """
    if public_url or not config:
        return public_url
    from bridge.config import load_config
    from bridge.errors import ConfigError

    try:
        return load_config(Path(config)).server.public_url
    except ConfigError as exc:
        raise UsageError(f"--config: {exc}") from exc


config_option = click.option("--config", metavar="FILE", help="Bridge config (for its public_url).")
public_url_option = click.option("--public-url", metavar="URL", help="The bridge's public URL.")


@cli.command()
@config_option
@public_url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def doctor(options: _Options, config: str | None, public_url: str | None, as_json: bool) -> None:
    """Check the backend, permissions, index, values, rotations and remote links."""
    with options.open(create=False) as store:
        checks = store.doctor()
        checks += _remote_checks(store, _public_url(config, public_url))
    if as_json:
        _emit([check.to_dict() for check in checks])
    else:
        for check in checks:
            click.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        raise click.exceptions.Exit(1)


def _remote_checks(store: Store, public_url: str | None) -> list[Check]:
    links = [link for link in store.links() if link.kind == remote.KIND]
    if not links:
        return []
    try:
        checker = remote.AnthropicRemote(store, remote.client_for(store))
    except VaultError as exc:
        return [Check("remote links", False, f"cannot check {len(links)} link(s): {exc}")]
    return [
        Check(f"remote link {result.link.credential}", result.ok, result.detail)
        for result in (checker.check(link, public_url) for link in links)
    ]


@cli.group(name="remote")
def remote_() -> None:
    """Push tokens to Anthropic vaults as static_bearer credentials for the bridge's URL."""


@remote_.command(name="link")
@click.argument("name")
@click.option("--vault", required=True, metavar="VAULT", help="vlt_ id or display name.")
@click.option("--url", metavar="URL", help="MCP server URL (default: public_url of --config).")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remote_link(
    options: _Options, name: str, vault: str, url: str | None, config: str | None, as_json: bool
) -> None:
    """Create (or adopt) the credential for URL in VAULT holding NAME's current token."""
    url = url or _public_url(config, None)
    if not url:
        raise UsageError("give --url URL (the bridge's public URL) or --config FILE")
    with options.open(create=False) as store:
        link = remote.AnthropicRemote(store, lambda: remote.client_for(store)).link(
            name, vault=vault, url=url
        )
    if as_json:
        _emit(link.to_dict())
    else:
        click.echo(f"linked {name} -> {link.vault_id}/{link.remote_id} for {link.url}")


@remote_.command(name="sync")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remote_sync(options: _Options, name: str | None, as_json: bool) -> None:
    """Push current values to every link (of NAME); safe to repeat."""
    with options.open(create=False) as store:
        links = remote.AnthropicRemote(store, lambda: remote.client_for(store)).sync(name)
    if as_json:
        _emit([link.to_dict() for link in links])
    elif not links:
        _note("no links to sync; see mcp-vault remote link --help")
    for link in [] if as_json else links:
        click.echo(
            f"pushed {link.credential} v{link.pushed_version} -> {link.vault_id}/{link.remote_id}"
        )


@remote_.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remote_list(options: _Options, as_json: bool) -> None:
    """List the links (never values)."""
    with options.open(create=False) as store:
        links = store.links()
    if as_json:
        _emit([link.to_dict() for link in links])
        return
    for link in links:
        click.echo(
            f"{link.credential:<24} {link.kind:<10} {link.vault_id}/{link.remote_id} "
            f"v{link.pushed_version} {link.url}"
        )


@remote_.command(name="unlink")
@click.argument("name")
@click.option("--vault", required=True, metavar="VAULT", help="vlt_ id or display name.")
@click.pass_obj
def remote_unlink(options: _Options, name: str, vault: str) -> None:
    """Archive NAME's credential in VAULT and forget the link."""
    with options.open(create=False) as store:
        links = remote.AnthropicRemote(store, lambda: remote.client_for(store)).unlink(
            name, vault=vault
        )
    for link in links:
        click.echo(f"unlinked {name} from {link.vault_id} (archived {link.remote_id})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mcp-vault`` with ``argv`` (default: the process arguments); returns the exit code."""
    return run(cli, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
