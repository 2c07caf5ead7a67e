"""A strict, in-memory fake of the Anthropic Managed Agents API, as a starlette app.

It covers what this project calls: agents (+ versions), sessions (+ events and their SSE stream),
environments, vaults and vault credentials, MCP tunnels and their certificates, with the paths,
bodies, response shapes and rules of
``shared/reference/managed-agents-api.md``. Request bodies are validated strictly (unknown fields
are rejected at every level), secrets are kept apart from the records and never serialised, and
every error uses the API's envelope plus a ``request-id`` header.

Choices where the real API is not documented (see the reference's "[?]" notes): lists are newest
first (session events oldest first, agent versions newest first); a no-op agent update keeps the
version; credential keys are compared after URL normalisation; sending to a session and creating
one from an archived vault, agent or environment are rejected; 409s carry
``x-should-retry: false`` so the SDK surfaces them at once (tests may still use max_retries=0).
The fake supports the subset of each body the project uses: session ``resources``, multiagent
configs, per-tool ``web_fetch``/``web_search`` options and image/document blocks are rejected.

The modules: one per resource (``agents``, ``environments``, ``vaults``, ``credentials``,
``sessions``, ``session_events``, ``tunnels`` + ``tunnel_certificates``), each a
:class:`~.resource.Resource` with its bodies, rules and routes; what they share (``resource``,
``endpoints``, ``agent_config``, ``credential_auth``, ``events``, ``bodies``, ``query``,
``pagination``, ``errors``, ``values``); the session machinery (``session_store``, ``streams``,
``player``); :class:`ManagedAgentsState` (``state``), which assembles them and holds the test hooks;
and ``create_app`` (``app``), the transport rules. A new resource is a module with a ``Resource``
subclass (its own ``beta`` if it needs another one) and one line in ``ManagedAgentsState.__init__``.
"""

from tests.fakes.managed_agents.app import create_app
from tests.fakes.managed_agents.errors import error_body
from tests.fakes.managed_agents.events import (
    Event,
    agent_custom_tool_use,
    agent_mcp_tool_result,
    agent_mcp_tool_use,
    agent_message,
    session_error_mcp_auth_failed,
    status_idle_end_turn,
    status_idle_requires_action,
    status_running,
    status_terminated,
)
from tests.fakes.managed_agents.player import MessageHandler, ToolResponseHandler
from tests.fakes.managed_agents.resource import BETA
from tests.fakes.managed_agents.state import (
    DEFAULT_API_KEY,
    FailureRule,
    ManagedAgentsState,
    RecordedRequest,
)
from tests.fakes.managed_agents.values import new_id, normalize_mcp_url

__all__ = [
    "BETA",
    "DEFAULT_API_KEY",
    "Event",
    "FailureRule",
    "ManagedAgentsState",
    "MessageHandler",
    "RecordedRequest",
    "ToolResponseHandler",
    "agent_custom_tool_use",
    "agent_mcp_tool_result",
    "agent_mcp_tool_use",
    "agent_message",
    "create_app",
    "error_body",
    "new_id",
    "normalize_mcp_url",
    "session_error_mcp_auth_failed",
    "status_idle_end_turn",
    "status_idle_requires_action",
    "status_running",
    "status_terminated",
]
