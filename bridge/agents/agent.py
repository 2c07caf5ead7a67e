"""The agent on the platform: found by its marker and name, created once, updated only on change.

Agents are created once and referenced by id: ``ensure_agent`` finds the agent it made before
(a metadata marker plus the name), creates it when missing, updates it only when the desired
configuration differs, and otherwise returns it untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anthropic

from bridge.agents.spec import MARKER_KEY, MARKER_VALUE, AgentSpec
from bridge.errors import AgentError
from mcpb.api import describe

if TYPE_CHECKING:
    from anthropic import Anthropic
    from anthropic.types.beta import BetaManagedAgentsAgent


def find_agent(client: Anthropic, name: str) -> BetaManagedAgentsAgent | None:
    """The newest non-archived agent named ``name`` that this helper made, if any."""
    try:
        for agent in client.beta.agents.list(limit=100):
            if agent.name == name and agent.metadata.get(MARKER_KEY) == MARKER_VALUE:
                return agent
    except anthropic.APIError as exc:
        raise describe("listing agents", exc, error=AgentError) from exc
    return None


def ensure_agent(client: Anthropic, spec: AgentSpec) -> BetaManagedAgentsAgent:
    """Create the agent ``spec`` describes (see :func:`agent_spec`), or update it only if its
    configuration differs.

    An update sends ``tools`` and ``mcp_servers`` together with the ``version`` read; when
    someone else updated the agent in between (409), it is re-read and retried once.
    """
    name = spec.name
    agent = find_agent(client, name)
    if agent is None:
        try:
            return client.beta.agents.create(
                name=name,
                model=spec.model,
                mcp_servers=spec.mcp_servers,  # type: ignore[arg-type]
                tools=spec.tools,  # type: ignore[arg-type]
                metadata=spec.metadata,
                system=anthropic.omit if spec.system is None else spec.system,
            )
        except anthropic.APIError as exc:
            raise describe(f"creating agent {name!r}", exc, error=AgentError) from exc
    # A version conflict never heals by resending the same version: no SDK retries here.
    agents = client.with_options(max_retries=0).beta.agents
    for attempt in (1, 2):
        if not spec.differs_from(agent):
            return agent
        try:
            return agents.update(
                agent.id,
                version=agent.version,
                model=spec.model,
                system=spec.system,
                mcp_servers=spec.mcp_servers,  # type: ignore[arg-type]
                tools=spec.tools,  # type: ignore[arg-type]
                metadata=dict(spec.metadata),
            )
        except anthropic.ConflictError as exc:
            if attempt == 2:
                raise AgentError(
                    f"updating agent {name!r} ({agent.id}) failed: it changed again while being "
                    "updated (version conflict twice); retry when no one else is updating it",
                    status_code=exc.status_code,
                    request_id=exc.request_id,
                ) from exc
        except anthropic.APIError as exc:
            raise describe(f"updating agent {name!r}", exc, error=AgentError) from exc
        try:
            agent = client.beta.agents.retrieve(agent.id)
        except anthropic.APIError as exc:
            raise describe(f"re-reading agent {name!r}", exc, error=AgentError) from exc
    return agent
