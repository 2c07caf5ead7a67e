"""Bearer-token auth through the MCP SDK's own hooks, backed by the vault's in-memory index.

The SDK installs the bearer middleware and answers 401 with ``WWW-Authenticate: Bearer``; this
module only supplies the ``TokenVerifier``. ``verify_token`` runs on every HTTP request, so it
must stay in memory: the vault's ``TokenIndex`` never touches the keyring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier


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


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request: credential name, key id and tool-name scopes."""

    name: str
    kid: str
    scopes: tuple[str, ...]


class VaultTokenVerifier(TokenVerifier):
    """Adapts the vault's token index to the SDK's ``TokenVerifier`` protocol.

    The session binding key is the credential name, so an SSE or HTTP session survives a
    rotation of its token; the key id travels in ``claims`` for the call log.
    """

    def __init__(self, verifier: Verifier, accepted: Iterable[str] | None = None) -> None:
        self._verifier = verifier
        self._accepted = frozenset(accepted) if accepted is not None else None

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = self._verifier.verify(token)
        if principal is None:
            return None
        if self._accepted is not None and principal.name not in self._accepted:
            return None
        return AccessToken(
            token="",  # the SDK keeps this object per request; it needs no copy of the secret
            client_id=principal.name,
            subject=principal.name,
            scopes=list(principal.scopes),
            claims={"kid": principal.kid},
        )


def current_caller() -> Caller | None:
    """The caller of the request being served, or None outside an authenticated request."""
    token = get_access_token()
    if token is None:
        return None
    kid = str((token.claims or {}).get("kid", ""))
    return Caller(name=token.client_id, kid=kid, scopes=tuple(token.scopes))
