"""The agent/session helper: declare the bridge on a managed agent, start sessions, run them.

- :mod:`bridge.agents.spec` and :mod:`bridge.agents.toolset`: what the agent should look like
  (``agent_spec``, ``desired_toolset``); :mod:`bridge.agents.agent`: find it, create it once,
  update it only on change (``ensure_agent``).
- :mod:`bridge.agents.session`: the credential preflight and the session start.
- :mod:`bridge.agents.turn`: one turn's event loop (``run_session``), answering custom tools
  from :mod:`bridge.agents.custom_tools` and tool confirmations.

``import bridge`` does not import this package (it needs the ``anthropic`` SDK); ``bridge``
re-exports these names on first use.
"""

from __future__ import annotations

from bridge.agents.agent import ensure_agent, find_agent
from bridge.agents.custom_tools import CustomTool, LocalTools
from bridge.agents.session import check_credentials, resolve_environment, start_session
from bridge.agents.spec import MARKER_KEY, MARKER_VALUE, SERVER_KEY, AgentSpec, agent_spec
from bridge.agents.toolset import McpTool, Policy, desired_toolset
from bridge.agents.turn import Confirm, SessionRun, run_session

__all__ = [
    "MARKER_KEY",
    "MARKER_VALUE",
    "SERVER_KEY",
    "AgentSpec",
    "Confirm",
    "CustomTool",
    "LocalTools",
    "McpTool",
    "Policy",
    "SessionRun",
    "agent_spec",
    "check_credentials",
    "desired_toolset",
    "ensure_agent",
    "find_agent",
    "resolve_environment",
    "run_session",
    "start_session",
]
