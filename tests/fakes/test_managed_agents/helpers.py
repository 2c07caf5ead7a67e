"""What the fake's tests build again and again: an agent, a session, a credential, a message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anthropic

from tests.fakes import managed_agents as fake

URL = "https://wiki.example.com/mcp"
MODEL = "claude-opus-4-8"
Client = anthropic.Anthropic


def make_agent(client: Client, **changes: Any) -> Any:
    params: dict[str, Any] = {
        "name": "bridge-agent",
        "model": MODEL,
        "mcp_servers": [{"type": "url", "name": "wiki", "url": URL}],
        "tools": [{"type": "mcp_toolset", "mcp_server_name": "wiki"}],
    }
    params.update(changes)
    return client.beta.agents.create(**params)


def make_session(client: Client, **changes: Any) -> Any:
    agent = make_agent(client)
    environment = client.beta.environments.create(name=f"env-{fake.new_id('')[:8]}")
    params: dict[str, Any] = {"agent": agent.id, "environment_id": environment.id}
    params.update(changes)
    return client.beta.sessions.create(**params)


def add_bearer(client: Client, vault_id: str, url: str = URL, token: str = "tok-1") -> Any:
    return client.beta.vaults.credentials.create(
        vault_id, auth={"type": "static_bearer", "mcp_server_url": url, "token": token}
    )


def user_message(text: str) -> Any:
    return {"type": "user.message", "content": [{"type": "text", "text": text}]}


def until_idle(stream: Iterable[Any]) -> list[Any]:
    seen = []
    for event in stream:
        seen.append(event)
        if event.type in ("session.status_idle", "session.status_terminated"):
            return seen
    return seen


def raw_headers(api_key: str) -> dict[str, str]:
    return {"anthropic-beta": fake.BETA, "x-api-key": api_key}
