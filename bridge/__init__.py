"""Expose in-house tools to Anthropic managed agents over MCP, behind vault-issued tokens."""

from bridge.tools.python import Secrets, tool

__all__ = ["Secrets", "tool"]
