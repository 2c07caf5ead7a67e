"""Give a managed agent the bridge's tools and hold one conversation turn: the whole flow.

Before running it: a bridge token in the vault store (``mcp-vault add inhouse-agents --kind
token``), the bridge serving at the config's ``public_url`` where the agent can reach it, and
``ANTHROPIC_API_KEY`` set (or stored with ``mcp-vault add anthropic-api-key --kind secret``).
``ANTHROPIC_BASE_URL`` is honoured, as the SDK does.

    python examples/attach_session.py --config examples/bridge.toml --token inhouse-agents \\
        --vault inhouse --environment env_... --model claude-opus-4-8 \\
        --message "Which items need reordering?"

Steps: link the token to an Anthropic vault as the credential for the bridge's URL (the vault is
created by name if missing), ensure the agent (created once, reused by id after that), start a
session with the vault, send the message and print the reply as it streams. The agent can also
call ``local_time``, a custom tool that runs here, in this process.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anthropic
from mcp.server.mcpserver.exceptions import ToolError

from bridge import agent_spec, ensure_agent, run_session, start_session, tool
from bridge.config import load_config
from bridge.errors import BridgeError
from bridge.tools.loader import build_registry, started_tools
from vaults.errors import VaultError
from vaults.remote import AnthropicRemote, client_for
from vaults.store import Store

PROG = "attach_session"


@tool(read_only=True)
def local_time(timezone: str = "UTC") -> str:
    """The current date and time where the user is, ISO 8601, in an IANA time zone."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"unknown time zone {timezone!r}; use an IANA name like Europe/Paris"
        ) from None
    return datetime.now(zone).isoformat(timespec="seconds")


def _confirm_on_terminal(tool_use: Any) -> bool:
    """Tools marked destructive need a yes; without a terminal to ask on, the answer is no."""
    if not sys.stdin.isatty():
        return False
    answer = input(f"allow {tool_use.name}({json.dumps(tool_use.input)})? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("bridge.toml"), help="bridge config")
    parser.add_argument("--token", default="inhouse-agents", help="bridge token in the store")
    parser.add_argument("--vault", required=True, help="Anthropic vault: vlt_ id or display name")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--environment", metavar="ENV_ID", help="env_ id to run the session in")
    where.add_argument("--create-environment", metavar="NAME", help="create an environment")
    parser.add_argument("--agent-name", default="inhouse-helper", help="agent to create or reuse")
    parser.add_argument("--model", required=True, help="model id, e.g. claude-opus-4-8")
    parser.add_argument("--system", help="system prompt of the agent")
    parser.add_argument("--message", required=True, help="what to ask the agent")
    parser.add_argument("--title", help="session title")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the turn")
    return parser


def _environment(client: anthropic.Anthropic, args: argparse.Namespace) -> str:
    if args.environment:
        return str(args.environment)
    try:
        created = client.beta.environments.create(
            name=args.create_environment,
            # Only what a session needs: MCP servers, no open internet.
            config={
                "type": "cloud",
                "networking": {"type": "limited", "allow_mcp_servers": True},
            },
        )
    except anthropic.APIError as exc:
        raise BridgeError(
            f"creating environment {args.create_environment!r} failed: {exc}"
        ) from exc
    print(
        f"created environment {created.id}; pass --environment {created.id} next time",
        file=sys.stderr,
    )
    return created.id


def attach_and_ask(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with Store.open(create=False) as store:
        # The bridge's tools, for their annotations: destructive ones will ask for confirmation.
        # A source that is down stops the script here, before anything changes remotely.
        registry = build_registry(config, store.secret_resolver())
        tools = started_tools(registry, require_healthy=True)
        client = client_for(store)
        link = AnthropicRemote(store, client).link(
            args.token, vault=args.vault, url=config.server.public_url
        )
    spec = agent_spec(
        config,
        name=args.agent_name,
        model=args.model,
        system=args.system,
        tools=tools,
        custom_tools=[local_time],
    )
    agent = ensure_agent(client, spec)
    session = start_session(
        client,
        agent,
        environment_id=_environment(client, args),
        vault_ids=[link.vault_id],
        title=args.title,
    )
    print(f"agent {agent.id} v{agent.version}, session {session.id}", file=sys.stderr)
    run = run_session(
        client,
        session,
        args.message,
        on_text=print,
        tools=[local_time],
        confirm=_confirm_on_terminal,
        deadline=args.deadline,
    )
    for error in run.errors:
        print(f"{PROG}: session error: {error}", file=sys.stderr)
    if run.stop_reason != "end_turn":
        print(f"{PROG}: the turn ended with {run.stop_reason}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return attach_and_ask(args)
    except (BridgeError, VaultError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
