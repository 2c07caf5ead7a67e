"""Existing MCP servers as tools: ``[[tools.mcp]]``.

Modules: ``config``, ``source`` (the tools, per-client pools), ``upstream`` (one supervised
session), ``transports`` (stdio child, SSE, Streamable HTTP), ``kind``.
"""
