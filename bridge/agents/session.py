"""Starting a session: the environment it runs in, and the credential preflight.

``start_session`` refuses to start a session whose MCP servers have no matching credential in
the given vaults, because the platform would otherwise call the bridge without a token and fail
later with an auth error event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import anthropic

from bridge.errors import AgentError, MissingCredentialError
from mcpb.api import describe
from mcpb.urls import same_server

if TYPE_CHECKING:
    from anthropic import Anthropic
    from anthropic.types.beta import BetaManagedAgentsAgent, BetaManagedAgentsSession


def resolve_environment(client: Anthropic, environment: str) -> str:
    """An ``env_`` id as given, else the id of the environment with that name."""
    if environment.startswith("env_"):
        return environment
    try:
        for env in client.beta.environments.list(limit=100):
            if env.name == environment:
                return str(env.id)
    except anthropic.APIError as exc:
        raise describe("listing environments", exc, error=AgentError) from exc
    raise AgentError(f"no environment named {environment!r}; pass its env_ id or create it")


def check_credentials(
    client: Anthropic, agent: BetaManagedAgentsAgent, vault_ids: Iterable[str]
) -> None:
    """Raise ``MissingCredentialError`` unless every MCP server URL of ``agent`` has an active
    credential in one of ``vault_ids`` (URLs compared as the platform does, normalised)."""
    vault_ids = list(vault_ids)
    urls: list[str] = []
    for vault_id in vault_ids:
        try:
            for credential in client.beta.vaults.credentials.list(vault_id, limit=100):
                url = getattr(credential.auth, "mcp_server_url", None)
                if credential.archived_at is None and isinstance(url, str):
                    urls.append(url)
        except anthropic.APIError as exc:
            raise describe(
                f"listing the credentials of vault {vault_id}", exc, error=AgentError
            ) from exc
    for server in agent.mcp_servers:
        if not any(same_server(server.url, url) for url in urls):
            searched = ", ".join(vault_ids) if vault_ids else "(no vaults given)"
            raise MissingCredentialError(
                f"MCP server {server.name!r} ({server.url}) has no active credential in the "
                f"vaults searched: {searched}; link one with `mcp-vault remote link TOKEN "
                f"--vault VAULT --url {server.url}`",
                server=server.name,
                url=server.url,
                vault_ids=vault_ids,
            )


def start_session(
    client: Anthropic,
    agent: BetaManagedAgentsAgent,
    *,
    environment_id: str,
    vault_ids: Iterable[str],
    title: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> BetaManagedAgentsSession:
    """Start a session pinned to this agent version, after :func:`check_credentials`."""
    vault_ids = list(vault_ids)
    check_credentials(client, agent, vault_ids)
    try:
        return client.beta.sessions.create(
            agent={"type": "agent", "id": agent.id, "version": agent.version},
            environment_id=environment_id,
            vault_ids=vault_ids,
            title=anthropic.omit if title is None else title,
            metadata=dict(metadata) if metadata else anthropic.omit,
        )
    except anthropic.APIError as exc:
        raise describe("creating the session", exc, error=AgentError) from exc
