"""The ``mcp`` source kind: ``[[tools.mcp]]`` entries as sources and their checks.

A late kind: an MCP server's tools are known only once it runs, so its sources come after every
other kind's and leave out the names those already serve.
"""

from __future__ import annotations

from bridge.tools.child import child_problems
from bridge.tools.kinds import Checked, LoadContext, Problem, SecretUse, SourceKind
from bridge.tools.mcp.config import McpToolsConfig
from bridge.tools.mcp.source import McpSource, probe_tools
from bridge.tools.remote_auth import auth_references
from bridge.tools.secrets import vault_reference


def build(entry: McpToolsConfig, context: LoadContext) -> McpSource:
    """The source for ``entry``; nothing runs until ``start``."""
    return McpSource(entry, context.config_dir, context.secrets)


def check(entry: McpToolsConfig, context: LoadContext) -> Checked:
    """What can be seen without starting the server: its program and cwd, its secrets."""
    problems: list[Problem] = []
    if entry.command is not None:
        cwd = entry.cwd or context.config_dir
        problems = child_problems(entry.command[0], cwd, entry.env, program_key="command")
    env = [(f"env.{name}", vault_reference(value)) for name, value in entry.env.items()]
    uses = [
        SecretUse(key, secret, key)
        for key, secret in env + auth_references(entry.headers, entry.bearer)
        if secret
    ]
    return Checked(tools=None, problems=problems, secrets=uses)


def probe(entry: McpToolsConfig, context: LoadContext) -> list[str]:
    """Start the server once and list its tools (original names)."""
    return probe_tools(entry, context.config_dir, context.secrets)


KIND = SourceKind(
    name="mcp", config=McpToolsConfig, build=build, check=check, probe=probe, late=True, order=10
)
