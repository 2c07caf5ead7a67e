"""The ``mcp-vault oauth`` commands: the bridge's OAuth clients, and the operator's consent to
interactive authorization requests."""

from __future__ import annotations

import click

from vaults.cli.group import Options, cli, emit, note
from vaults.index import stamp
from vaults.index.records import moment
from vaults.oauth import OAuthClient, OAuthService, PendingAuthorization


def _client_dict(client: OAuthClient) -> dict[str, object]:
    data = client.to_dict()
    data.pop("credential_id", None)
    return data


def _pending_dict(pending: PendingAuthorization) -> dict[str, object]:
    return {
        "user_code": pending.user_code,
        "client": pending.client.name,
        "client_id": pending.client.client_id,
        "redirect_uri": pending.redirect_uri,
        "scopes": list(pending.scopes),
        "status": pending.status,
        "requested_at": stamp(moment(pending.created_at)),
        "requested_by": pending.requester,
        "expires_at": stamp(moment(pending.expires_at)),
    }


@cli.group(name="oauth")
def oauth_() -> None:
    """The bridge as an OAuth authorization server: clients, and approvals of requests."""


@oauth_.group(name="client")
def client_() -> None:
    """OAuth clients (their secrets rotate with mcp-vault rotate NAME)."""


@client_.command(name="add")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, metavar="TOOL", help="Tool name glob (repeat).")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, metavar="URI",
    help="Where an interactive client gets its code (https, or http on localhost); repeat.",
)  # fmt: skip
@click.option(
    "--grant", "grants", multiple=True,
    type=click.Choice(["client_credentials", "refresh_token", "authorization_code"]),
    help="Grant types (default: client_credentials and refresh_token; with --redirect-uri: "
    "authorization_code and refresh_token).",
)  # fmt: skip
@click.option("--public", is_flag=True, help="No secret (PKCE only, e.g. a desktop MCP client).")
@click.option(
    "--auth-method", type=click.Choice(["client_secret_basic", "client_secret_post"]),
    default="client_secret_basic", show_default=True, help="How the client sends its secret.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def client_add(
    options: Options,
    name: str,
    scopes: tuple[str, ...],
    redirect_uris: tuple[str, ...],
    grants: tuple[str, ...],
    public: bool,
    auth_method: str,
    as_json: bool,
) -> None:
    """Add an OAuth client; its secret is printed once."""
    if not grants:
        grants = (
            ("authorization_code", "refresh_token")
            if redirect_uris or public
            else ("client_credentials", "refresh_token")
        )
    with options.open(create=True) as store:
        client, secret = OAuthService(store).add_client(
            name, scopes=scopes, redirect_uris=redirect_uris, grant_types=grants,
            auth_method="none" if public else auth_method,
        )  # fmt: skip
    if as_json:
        emit({**_client_dict(client), "client_secret": secret})
        return
    click.echo(f"added OAuth client {name}")
    click.echo(f"client_id: {client.client_id}")
    if secret is not None:
        click.echo(f"client_secret: {secret}")
        note("the secret is shown once; mcp-vault remote link NAME --oauth hands it to Anthropic")


@client_.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def client_list(options: Options, as_json: bool) -> None:
    """The OAuth clients (never a secret)."""
    with options.open(create=False) as store:
        clients = OAuthService(store).clients()
    if as_json:
        emit([_client_dict(client) for client in clients])
        return
    if not clients:
        note("no OAuth clients; add one with mcp-vault oauth client add NAME")
    for client in clients:
        state = "revoked" if client.revoked else "active"
        click.echo(
            f"{client.name:<20} {client.client_id:<26} {state:<8} {client.auth_method:<20} "
            f"{','.join(client.grant_types)}  scopes {','.join(client.scopes) or '*'}"
        )


@client_.command(name="revoke")
@click.argument("name")
@click.pass_obj
def client_revoke(options: Options, name: str) -> None:
    """End a client: its secrets, grants and tokens (the bridges refuse them within a second)."""
    with options.open(create=False) as store:
        OAuthService(store).revoke_client(name)
    click.echo(f"revoked OAuth client {name} and every token it held")


@oauth_.command(name="pending")
@click.option("--all", "show_all", is_flag=True, help="Also requests already decided.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def pending(options: Options, show_all: bool, as_json: bool) -> None:
    """Authorization requests waiting for your approval (approve only the code that your own
    browser shows: anyone who can reach the bridge can open a request)."""
    with options.open(create=False) as store:
        found = OAuthService(store).pending()
    if not show_all:
        found = [request for request in found if request.status == "pending"]
    if as_json:
        emit([_pending_dict(request) for request in found])
        return
    if not found:
        note("no authorization request is waiting")
    for request in found:
        click.echo(
            f"{request.user_code}  {request.status:<8} {request.client.name} -> "
            f"{request.redirect_uri}  scopes {','.join(request.scopes) or '*'}  "
            f"at {stamp(moment(request.created_at))} from {request.requester or '-'}"
        )


@oauth_.command(name="approve")
@click.argument("code")
@click.pass_obj
def approve(options: Options, code: str) -> None:
    """Approve the request shown with CODE (on the bridge's consent page)."""
    with options.open(create=False) as store:
        request = OAuthService(store).approve(code)
    scopes = ",".join(request.scopes) or "*"
    click.echo(f"approved {request.user_code}: {request.client.name} may call {scopes}")


@oauth_.command(name="deny")
@click.argument("code")
@click.pass_obj
def deny(options: Options, code: str) -> None:
    """Deny the request shown with CODE."""
    with options.open(create=False) as store:
        request = OAuthService(store).deny(code)
    click.echo(f"denied {request.user_code} ({request.client.name})")
