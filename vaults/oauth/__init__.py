"""The bridge as an OAuth 2.1 authorization server: its clients, grants and consent, in the
store's index (hashes only). ``OAuthService`` is the API; the HTTP side is ``bridge.oauth``."""

from __future__ import annotations

from vaults.errors import OAuthError
from vaults.index import OAuthClient
from vaults.oauth.models import (
    AUTH_METHODS,
    GRANT_TYPES,
    CodeGrant,
    IssuedTokens,
    PendingAuthorization,
)
from vaults.oauth.service import ACCESS_TTL, CODE_TTL, REFRESH_TTL, OAuthService

__all__ = [
    "ACCESS_TTL",
    "AUTH_METHODS",
    "CODE_TTL",
    "GRANT_TYPES",
    "REFRESH_TTL",
    "CodeGrant",
    "IssuedTokens",
    "OAuthClient",
    "OAuthError",
    "OAuthService",
    "PendingAuthorization",
]
