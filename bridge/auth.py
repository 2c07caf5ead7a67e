"""Bearer-token auth through the MCP SDK's own hooks, backed by the vault's in-memory index.

The SDK installs the bearer middleware and answers 401 with ``WWW-Authenticate: Bearer``; this
module only supplies the ``TokenVerifier``. ``verify_token`` runs on every HTTP request, so it
must stay in memory: the vault's ``TokenIndex`` never touches the keyring. What follows from a
valid token (the SDK's ``AccessToken``, the ``Caller`` the call log and scope checks read) is
built once per token version and reused for its requests, not rebuilt per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from pydantic import Field


class Principal(Protocol):
    """What the vault verifier says about a valid token."""

    @property
    def name(self) -> str: ...

    @property
    def kid(self) -> str: ...

    @property
    def scopes(self) -> tuple[str, ...]: ...


class Verifier(Protocol):
    """Looks a bearer token up in memory: its principal, or None when it is not valid."""

    def verify(self, token: str) -> Principal | None: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of a request: credential name, key id and tool-name scopes."""

    name: str
    kid: str
    scopes: tuple[str, ...]


class _VaultAccessToken(AccessToken):
    """The SDK's ``AccessToken``, carrying the ``Caller`` it was made for (never serialised)."""

    caller: Caller = Field(exclude=True, repr=False)


# Tokens made for principals no longer current (rotated, revoked) are dropped past this many.
_CACHE_LIMIT = 1024


class VaultTokenVerifier(TokenVerifier):
    """Adapts the vault's token index to the SDK's ``TokenVerifier`` protocol.

    The session binding key is the credential name, so an SSE or HTTP session survives a
    rotation of its token; the key id travels in ``claims`` for the call log. The
    ``AccessToken`` of a principal is cached by key id while the verifier keeps handing out
    the same principal object (``TokenIndex`` does, until the index changes); the SDK only
    reads it.
    """

    def __init__(self, verifier: Verifier, accepted: Iterable[str] | None = None) -> None:
        self._verifier = verifier
        self._accepted = frozenset(accepted) if accepted is not None else None
        self._tokens: dict[str, tuple[Principal, _VaultAccessToken]] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = self._verifier.verify(token)
        if principal is None:
            return None
        cached = self._tokens.get(principal.kid)
        if cached is not None and cached[0] is principal:
            return cached[1]
        if self._accepted is not None and principal.name not in self._accepted:
            return None
        access = _VaultAccessToken(
            token="",  # the SDK keeps this object per request; it needs no copy of the secret
            client_id=principal.name,
            subject=principal.name,
            scopes=list(principal.scopes),
            claims={"kid": principal.kid},
            caller=Caller(principal.name, principal.kid, tuple(principal.scopes)),
        )
        if len(self._tokens) >= _CACHE_LIMIT:
            self._tokens.clear()
        self._tokens[principal.kid] = (principal, access)
        return access


def current_caller() -> Caller | None:
    """The caller of the request being served, or None outside an authenticated request."""
    token = get_access_token()
    if token is None:
        return None
    if isinstance(token, _VaultAccessToken):
        return token.caller
    kid = str((token.claims or {}).get("kid", ""))
    return Caller(name=token.client_id, kid=kid, scopes=tuple(token.scopes))
