"""What the OAuth service hands out: issued tokens, pending authorizations, code grants."""

from __future__ import annotations

from dataclasses import dataclass, field

from vaults.index import OAuthClient

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """What a token endpoint answers; the tokens stay out of ``repr``."""

    access_token: str = field(repr=False)
    expires_in: int
    scopes: tuple[str, ...]
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0
    grant_id: int = 0


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """An interactive client's authorization request, as the operator sees it."""

    request_id: str  # opaque, in the consent page URL
    user_code: str  # what the operator types: mcp-vault oauth approve CODE
    client: OAuthClient
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    status: str  # pending | approved | denied | issued | expired
    expires_at: float
    requester: str | None = None  # the address and user agent that opened it
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """An authorization code's binding, for the SDK's token handler to check PKCE itself."""

    client_id: str
    redirect_uri: str
    redirect_uri_provided_explicitly: bool
    code_challenge: str
    scopes: tuple[str, ...]
    expires_at: float
    resource: str | None
