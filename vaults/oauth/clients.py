"""OAuth clients: added as token credentials whose versions are their client secrets.

The secret is an ``mcpb_`` token (scanner-findable, O(1) to look up by key id) kept like any
token: hash and key id in the index, value in the keyring (so ``remote link --oauth`` can hand
it to the platform and ``mcp-vault rotate NAME`` rotates it with the usual grace overlap).
A public client (PKCE, ``auth_method = "none"``) has no secret and no version.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from vaults import audit, tokens
from vaults.errors import AlreadyExistsError, NotFoundError, OAuthError, UsageError
from vaults.index import Connection, OAuthClient
from vaults.inputs import validate_name, validate_scopes
from vaults.oauth.models import AUTH_METHODS, GRANT_TYPES
from vaults.store import Store

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


def new_client_id() -> str:
    """A random public client id (safe to log)."""
    return "mcpc_" + secrets.token_hex(10)


def check_redirect_uri(uri: str) -> str:
    """An absolute https URI (http only on loopback), no fragment; UsageError otherwise."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.netloc:
        raise UsageError(f"redirect URI {uri!r} must be absolute, with no fragment")
    if parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK:
        return uri
    if parts.scheme != "https":
        raise UsageError(f"redirect URI {uri!r} must use https (http only on localhost)")
    return uri


def add_client(
    store: Store,
    name: str,
    *,
    scopes: Sequence[str],
    redirect_uris: Sequence[str] = (),
    grant_types: Sequence[str] = ("client_credentials", "refresh_token"),
    auth_method: str = "client_secret_basic",
    dynamic: bool = False,
) -> tuple[OAuthClient, str | None]:
    """Add the client ``name``; returns it and its secret (shown once; None for a public one)."""
    validate_name(name)
    clean_scopes = validate_scopes(scopes)
    grants = tuple(dict.fromkeys(grant_types))
    unknown = [grant for grant in grants if grant not in GRANT_TYPES]
    if unknown or not grants:
        raise UsageError(
            f"grant types must be some of {', '.join(GRANT_TYPES)}; "
            f"got {', '.join(unknown) or 'none'}"
        )
    if auth_method not in AUTH_METHODS:
        raise UsageError(f"auth method must be one of {', '.join(AUTH_METHODS)}")
    if auth_method == "none" and "client_credentials" in grants:
        raise UsageError("a public client (no secret) cannot use the client_credentials grant")
    uris = tuple(check_redirect_uri(uri) for uri in dict.fromkeys(redirect_uris))
    if "authorization_code" in grants and not uris:
        raise UsageError("the authorization_code grant needs at least one --redirect-uri")
    client_id = new_client_id()

    def register(conn: Connection, credential_id: int) -> None:
        store.index.oauth_clients.insert(
            credential_id, client_id, redirect_uris=uris, grant_types=grants,
            auth_method=auth_method, dynamic=dynamic, now=time.time(),
        )  # fmt: skip
        audit.record(conn, "oauth.client.add", credential=name, detail=client_id)

    secret: str | None = None
    if auth_method == "none":
        with store.index.write() as conn:
            if store.index.credentials.exists(name):
                raise AlreadyExistsError(
                    f"a credential named {name!r} already exists; pick another name", name=name
                )
            cid = store.index.credentials.insert(name, "token", clean_scopes, None, time.time())
            register(conn, cid)
    else:
        secret = store.add_token(name, scopes=clean_scopes, then=register).token
    found = store.index.oauth_clients.by_client_id(client_id)
    assert found is not None
    return found, secret


def get_client(store: Store, name: str) -> OAuthClient:
    """The client named ``name``; NotFoundError if there is none (or it is a plain token)."""
    with store.index.read():
        found = store.index.oauth_clients.by_name(name)
    if found is None:
        raise NotFoundError(
            f"no OAuth client named {name!r}; see mcp-vault oauth client list", name=name
        )
    return found


def authenticate(store: Store, client_id: str, secret: str | None) -> OAuthClient:
    """The client ``client_id`` if ``secret`` is one of its live secrets (current, pending,
    or previous within grace), compared in constant time; OAuthError invalid_client if not."""
    with store.index.read():
        client = store.index.oauth_clients.by_client_id(client_id)
        parsed = tokens.parse(secret) if secret else None
        found = None
        if client is not None and parsed is not None:
            found = store.index.versions.by_kid(client.credential_id, parsed.kid)
    if client is None or client.revoked:
        raise OAuthError("invalid_client", "unknown or revoked client")
    if client.public:
        return client
    if parsed is None:
        raise OAuthError("invalid_client", "client authentication failed")
    digest = tokens.hash_secret(parsed.secret)
    if found is None:
        hmac.compare_digest(digest, digest)  # the same work as a real comparison
        raise OAuthError("invalid_client", "client authentication failed")
    state, not_after, stored = found
    live = state in ("pending", "current") or (
        state == "previous" and not_after is not None and not_after > time.time()
    )
    if not hmac.compare_digest(digest, stored) or not live:
        raise OAuthError("invalid_client", "client authentication failed")
    return client


def revoke_client(store: Store, name: str) -> OAuthClient:
    """End the client: its secrets, every grant and every token it holds (``Store.revoke`` of
    an OAuth client does all of it, in one transaction, so ``mcp-vault revoke`` does too)."""
    get_client(store, name)
    store.revoke(name)
    return get_client(store, name)
