"""MCP tunnels: make the bridge reachable from Anthropic's cloud through an Anthropic tunnel."""
