"""Expose in-house tools to Anthropic managed agents over MCP, behind vault-issued tokens.

``import bridge`` stays light (tool modules import it): the agent/session helper, which needs
the ``anthropic`` SDK, is imported on first use of one of its names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.errors import AgentError, MissingCredentialError
from bridge.tools.python import Secrets, tool

if TYPE_CHECKING:
    from bridge.agents import (
        AgentSpec,
        SessionRun,
        agent_spec,
        check_credentials,
        desired_toolset,
        ensure_agent,
        run_session,
        start_session,
    )

_FROM_AGENTS = frozenset(
    {
        "AgentSpec",
        "SessionRun",
        "agent_spec",
        "check_credentials",
        "desired_toolset",
        "ensure_agent",
        "run_session",
        "start_session",
    }
)

__all__ = [
    "AgentError",
    "AgentSpec",
    "MissingCredentialError",
    "Secrets",
    "SessionRun",
    "agent_spec",
    "check_credentials",
    "desired_toolset",
    "ensure_agent",
    "run_session",
    "start_session",
    "tool",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_AGENTS:
        from bridge import agents

        return getattr(agents, name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
