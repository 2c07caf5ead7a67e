"""The ``mcp-bridge`` commands on the bridge itself: serve, tools, check, attach."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import click

from bridge.cli.group import PROG, cli, config_option, config_path, load, open_store, store_option

if TYPE_CHECKING:
    from bridge.config import BridgeConfig
    from bridge.tools.registry import Registry
    from vaults.store import Store

DEMO_TOKEN = "demo"  # noqa: S105 - the name of a credential, not a value


def _registry(config: BridgeConfig, store: Store) -> Registry:
    from bridge.tools.loader import build_registry

    return build_registry(config, store.secret_resolver())


@cli.command()
@config_option
@store_option
@click.option("--host", help="Interface to bind (default 127.0.0.1; env MCP_BRIDGE_HOST).")
@click.option("--port", type=int, help="Port to bind (default 8765; env MCP_BRIDGE_PORT).")
@click.option(
    "--demo",
    is_flag=True,
    help=f"Mint a token named {DEMO_TOKEN!r} on first run and print it with a client command.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Log level.",
)
def serve(
    config: str | None,
    store: str | None,
    host: str | None,
    port: int | None,
    demo: bool,
    log_level: str,
) -> None:
    """Serve the configured tools over SSE (/sse) and Streamable HTTP (/mcp)."""
    from bridge.serve import run

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    vault = open_store(store, load(config))
    path = config_path(config)
    run(
        path,
        vault,
        host=host,
        port=port,
        demo_token=DEMO_TOKEN if demo else None,
        announce=click.echo,
        log_level=log_level,
    )


@cli.command()
@config_option
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tools(config: str | None, store: str | None, as_json: bool) -> None:
    """List the resolved tools."""
    from bridge.tools.loader import started_tools

    cfg = load(config)
    with open_store(store, cfg) as vault:
        specs = started_tools(_registry(cfg, vault))
    rows = [
        {
            "name": spec.name,
            "source": spec.source,
            "description": spec.description,
            "read_only": bool(spec.annotations and spec.annotations.read_only_hint),
            "destructive": bool(spec.annotations and spec.annotations.destructive_hint),
        }
        for spec in specs
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    name_width = max((len(str(row["name"])) for row in rows), default=0)
    source_width = max((len(str(row["source"])) for row in rows), default=0)
    for row in rows:
        flags = "read-only" if row["read_only"] else "destructive" if row["destructive"] else ""
        first_line = str(row["description"] or "").partition("\n")[0]
        click.echo(
            f"{row['name']:<{name_width}}  {row['source']:<{source_width}}  {flags:<11}  "
            f"{first_line}".rstrip()
        )


@cli.command()
@config_option
@store_option
def check(config: str | None, store: str | None) -> None:
    """Validate the config, its tools and its vault references without serving; warn about a
    public URL that Anthropic's cloud cannot reach."""
    from bridge.config import reachability
    from bridge.tools.loader import check_config, started_tools

    cfg = load(config)
    with open_store(store, cfg) as vault:
        problems = check_config(cfg, vault.secret_resolver(), probe=True)
        if problems:
            for problem in problems:
                click.echo(f"{PROG}: error: {problem}", err=True)
            raise click.exceptions.Exit(2)
        count = len(started_tools(_registry(cfg, vault)))
        linked = [link.url for link in vault.links() if link.kind == "anthropic"]
    for warning in reachability(cfg, linked_urls=linked):
        click.echo(f"{PROG}: warning: {warning}", err=True)
    click.echo(f"ok: {cfg.source}: {count} tools, public URL {cfg.server.public_url}")


@cli.command()
@config_option
@store_option
@click.option("--agent-name", required=True, help="Name of the agent to create or update.")
@click.option("--model", required=True, help="Model id, e.g. claude-opus-4-8.")
@click.option("--environment", required=True, metavar="ENV", help="env_ id or environment name.")
@click.option("--vault", required=True, metavar="VAULT", help="vlt_ id or vault display name.")
@click.option("--title", help="Session title.")
@click.option("--system", help="System prompt of the agent.")
@click.option(
    "--permission-policy",
    type=click.Choice(["always_allow", "always_ask", "auto"]),
    default="always_allow",
    show_default=True,
    help="Default policy for the bridge's tools (destructive tools always ask).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def attach(
    config: str | None,
    store: str | None,
    agent_name: str,
    model: str,
    environment: str,
    vault: str,
    title: str | None,
    system: str | None,
    permission_policy: str,
    as_json: bool,
) -> None:
    """Ensure the agent that uses this bridge, then start a session with VAULT."""
    from bridge.agents import agent_spec, ensure_agent, resolve_environment, start_session
    from bridge.tools.loader import started_tools
    from vaults.remote import AnthropicRemote, client_for

    cfg = load(config)
    vault_store = open_store(store, cfg)
    # Before anything changes on the platform: a source that is down would leave its tools out
    # of the agent's permission configs, so they would silently get the default policy.
    tools = started_tools(_registry(cfg, vault_store), require_healthy=True)
    client = client_for(vault_store)
    vault_id = AnthropicRemote(vault_store, client).resolve_vault(vault, create=False)
    spec = agent_spec(
        cfg,
        name=agent_name,
        model=model,
        system=system,
        tools=tools,
        permission_policy=permission_policy,  # type: ignore[arg-type]
    )
    agent = ensure_agent(client, spec)
    session = start_session(
        client,
        agent,
        environment_id=resolve_environment(client, environment),
        vault_ids=[vault_id],
        title=title,
    )
    result = {"agent_id": agent.id, "agent_version": agent.version, "session_id": session.id}
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"agent {agent.id} (version {agent.version}), session {session.id}")
