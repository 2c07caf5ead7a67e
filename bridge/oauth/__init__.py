"""The bridge as its own OAuth 2.1 authorization server, on the MCP SDK's auth machinery.

The state (clients, grants, hashed tokens, consent) is the vault's (``vaults.oauth``); this
package is the HTTP side: the SDK's provider interface (``provider``), client authentication
against hashed secrets (``clients``), the token endpoint (``token``), the operator's consent
page (``consent``) and the routes with their metadata (``routes``). Access tokens are verified
by the same in-memory verifier as static tokens (``bridge.auth``).
"""

from __future__ import annotations

from bridge.oauth.routes import issuer_for, oauth_routes

__all__ = ["issuer_for", "oauth_routes"]
