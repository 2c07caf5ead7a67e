"""``OAuthService``: the bridge's authorization server state, as one library object.

Every method is synchronous, one transaction, and safe to call from a worker thread (the bridge
calls them with ``anyio.to_thread.run_sync``); each change writes an audit row with no secret.
"""

from __future__ import annotations

from collections.abc import Sequence

from vaults.index import OAuthClient
from vaults.oauth import clients
from vaults.oauth.consent import Consent
from vaults.oauth.grants import Grants
from vaults.oauth.models import CodeGrant, IssuedTokens, PendingAuthorization
from vaults.store import Store

ACCESS_TTL = 3600.0
REFRESH_TTL = 30 * 86400.0
CODE_TTL = 600.0


class OAuthService:
    """Clients, grants and consent over one store.

    Lifetimes not given are the ones the bridge serving this store published (``publish``, at
    its start, from its ``[auth.oauth]`` config), else the defaults: so the access token that
    ``mcp-vault remote link --oauth`` issues lives as long as the bridge's own.
    """

    def __init__(
        self,
        store: Store,
        *,
        access_ttl: float | None = None,
        refresh_ttl: float | None = None,
        code_ttl: float | None = None,
    ) -> None:
        self.store = store
        with store.index.read():
            access = access_ttl or _stored(store, "oauth.access_ttl") or ACCESS_TTL
            refresh = refresh_ttl or _stored(store, "oauth.refresh_ttl") or REFRESH_TTL
            code = code_ttl or _stored(store, "oauth.code_ttl") or CODE_TTL
        self.grants = Grants(store.index, access_ttl=access, refresh_ttl=refresh)
        self.consent = Consent(store.index, self.grants, code_ttl=code)

    def publish(self) -> None:
        """Record this service's lifetimes in the store, for the CLI's grants."""
        wanted = {
            "oauth.access_ttl": self.grants.access_ttl,
            "oauth.refresh_ttl": self.grants.refresh_ttl,
            "oauth.code_ttl": self.consent.code_ttl,
        }
        with self.store.index.read():
            same = all(_stored(self.store, key) == value for key, value in wanted.items())
        if not same:
            with self.store.index.write():
                for key, value in wanted.items():
                    self.store.index.meta.set(key, repr(value))

    # clients
    def add_client(
        self,
        name: str,
        *,
        scopes: Sequence[str] = (),
        redirect_uris: Sequence[str] = (),
        grant_types: Sequence[str] = ("client_credentials", "refresh_token"),
        auth_method: str = "client_secret_basic",
        dynamic: bool = False,
    ) -> tuple[OAuthClient, str | None]:
        return clients.add_client(
            self.store, name, scopes=scopes, redirect_uris=redirect_uris,
            grant_types=grant_types, auth_method=auth_method, dynamic=dynamic,
        )  # fmt: skip

    def client(self, client_id: str) -> OAuthClient | None:
        with self.store.index.read():
            return self.store.index.oauth_clients.by_client_id(client_id)

    def named(self, name: str) -> OAuthClient:
        return clients.get_client(self.store, name)

    def clients(self) -> list[OAuthClient]:
        with self.store.index.read():
            return self.store.index.oauth_clients.all()

    def revoke_client(self, name: str) -> OAuthClient:
        return clients.revoke_client(self.store, name)

    def authenticate(self, client_id: str, secret: str | None) -> OAuthClient:
        return clients.authenticate(self.store, client_id, secret)

    # grants
    def client_credentials(
        self, client: OAuthClient, scopes: Sequence[str] | None = None
    ) -> IssuedTokens:
        return self.grants.client_credentials(client, scopes)

    def issue_grant(self, client: OAuthClient, origin: str | None = None) -> IssuedTokens:
        """A pre-approved grant (access and refresh token); ``origin`` names its holder."""
        return self.grants.pre_approved(client, origin)

    def replace_grants(self, client: OAuthClient, origin: str, keep: int) -> int:
        """End ``client``'s older grants of ``origin``, now that grant ``keep`` holds its place."""
        return self.grants.replace(client, origin, keep)

    def refresh(
        self, client: OAuthClient, refresh_token: str, scopes: Sequence[str] | None = None
    ) -> IssuedTokens:
        return self.grants.refresh(client, refresh_token, scopes)

    def revoke_token(self, token: str, client: OAuthClient | None = None) -> bool:
        return self.grants.revoke_token(token, client)

    def peek_refresh(self, client: OAuthClient, token: str) -> tuple[tuple[str, ...], float] | None:
        """The scopes and expiry of ``client``'s refresh token (spent or not), or None."""
        found = self.grants.peek(token, "refresh", client)
        return None if found is None else (found[1], found[2])

    def peek_access(self, token: str) -> tuple[str, tuple[str, ...], float] | None:
        """The client id, scopes and expiry of an access token of a live grant, or None."""
        return self.grants.peek(token, "access")

    # consent
    def request_authorization(
        self,
        client: OAuthClient,
        *,
        redirect_uri: str,
        redirect_uri_provided_explicitly: bool,
        code_challenge: str,
        scopes: Sequence[str] | None,
        state: str | None,
        resource: str | None,
        requester: str | None = None,
    ) -> PendingAuthorization:
        return self.consent.request(
            client, redirect_uri=redirect_uri,
            redirect_uri_provided_explicitly=redirect_uri_provided_explicitly,
            code_challenge=code_challenge, scopes=scopes, state=state, resource=resource,
            requester=requester,
        )  # fmt: skip

    def pending(self) -> list[PendingAuthorization]:
        return self.consent.pending()

    def authorization(self, request_id: str) -> PendingAuthorization | None:
        return self.consent.get(request_id)

    def approve(self, user_code: str) -> PendingAuthorization:
        return self.consent.decide(user_code, approve=True)

    def deny(self, user_code: str) -> PendingAuthorization:
        return self.consent.decide(user_code, approve=False)

    def issue_code(self, request_id: str) -> str:
        return self.consent.issue_code(request_id)

    def load_code(self, client: OAuthClient, code: str) -> CodeGrant | None:
        return self.consent.load_code(client, code)

    def exchange_code(self, client: OAuthClient, code: str) -> IssuedTokens:
        return self.consent.exchange(client, code)


def _stored(store: Store, key: str) -> float | None:
    text = store.index.meta.get(key)
    try:
        return None if text is None else float(text)
    except ValueError:
        return None
