"""The ``mcp-vault remote`` commands: link tokens (or OAuth clients) to Anthropic vaults, sync,
validate, list and unlink."""

from __future__ import annotations

import click

from vaults import oauth_link, remote
from vaults.cli.group import Options, bridge_url, cli, config_option, emit, note
from vaults.errors import UsageError


@cli.group(name="remote")
def remote_() -> None:
    """Push tokens to Anthropic vaults as static_bearer credentials for the bridge's URL."""


@remote_.command(name="link")
@click.argument("name")
@click.option("--vault", required=True, metavar="VAULT", help="vlt_ id or display name.")
@click.option("--url", metavar="URL", help="MCP server URL (default: public_url of --config).")
@click.option(
    "--oauth", is_flag=True,
    help="NAME is an OAuth client: create an mcp_oauth credential that the platform refreshes "
    "itself at the bridge's token endpoint.",
)  # fmt: skip
@click.option(
    "--token-endpoint", metavar="URL",
    help="With --oauth: the bridge's public token endpoint (default: /token beside the MCP URL).",
)  # fmt: skip
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remote_link(
    options: Options,
    name: str,
    vault: str,
    url: str | None,
    oauth: bool,
    token_endpoint: str | None,
    config: str | None,
    as_json: bool,
) -> None:
    """Create (or adopt) the credential for URL in VAULT holding NAME's current token."""
    url = url or bridge_url(config, None)
    if not url:
        raise UsageError("give --url URL (the bridge's public URL) or --config FILE")
    if token_endpoint and not oauth:
        raise UsageError("--token-endpoint applies to --oauth links only")
    with options.open(create=False) as store:
        if oauth:
            link = oauth_link.OAuthLinks(store, lambda: remote.client_for(store)).link(
                name, vault=vault, url=url, token_endpoint=token_endpoint
            )
        else:
            link = remote.AnthropicRemote(store, lambda: remote.client_for(store)).link(
                name, vault=vault, url=url
            )
    if as_json:
        emit(link.to_dict())
    else:
        what = "mcp_oauth" if oauth else "static_bearer"
        click.echo(f"linked {name} -> {link.vault_id}/{link.remote_id} ({what}) for {link.url}")


@remote_.command(name="validate")
@click.argument("name")
@click.option("--vault", metavar="VAULT", help="Only the link to this vault (vlt_ id or name).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remote_validate(options: Options, name: str, vault: str | None, as_json: bool) -> None:
    """Ask Anthropic to probe NAME's mcp_oauth credential(s) and print the verdict."""
    with options.open(create=False) as store:
        results = oauth_link.OAuthLinks(store, lambda: remote.client_for(store)).validate(
            name, vault=vault
        )
    if as_json:
        emit([result.raw for result in results])
    else:
        for result in results:
            for line in result.lines:
                click.echo(line)
    if any(result.status != "valid" for result in results):
        raise click.exceptions.Exit(1)


@remote_.command(name="sync")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remote_sync(options: Options, name: str | None, as_json: bool) -> None:
    """Push current values to every link (of NAME); safe to repeat."""
    with options.open(create=False) as store:
        links = remote.AnthropicRemote(store, lambda: remote.client_for(store)).sync(name)
    if as_json:
        emit([link.to_dict() for link in links])
    elif not links:
        note("no links to sync; see mcp-vault remote link --help")
    for link in [] if as_json else links:
        click.echo(
            f"pushed {link.credential} v{link.pushed_version} -> {link.vault_id}/{link.remote_id}"
        )


@remote_.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remote_list(options: Options, as_json: bool) -> None:
    """List the links (never values)."""
    with options.open(create=False) as store:
        links = store.links()
    if as_json:
        emit([link.to_dict() for link in links])
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
def remote_unlink(options: Options, name: str, vault: str) -> None:
    """Archive NAME's credential in VAULT and forget the link."""
    with options.open(create=False) as store:
        links = remote.AnthropicRemote(store, lambda: remote.client_for(store)).unlink(
            name, vault=vault
        )
    for link in links:
        click.echo(f"unlinked {name} from {link.vault_id} (archived {link.remote_id})")
