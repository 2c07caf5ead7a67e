"""Anthropic ``mcp_oauth`` credentials for the bridge's own OAuth clients.

``link`` gives the platform a pre-approved grant of an OAuth client: an access token, its expiry
and a ``refresh`` block that points at the bridge's token endpoint with the client's id and
secret. From then on the platform refreshes the access token itself (after a 401 or at expiry);
nothing is pushed on a schedule. A rotation of the client secret pushes the new secret into the
same credential (the pusher for links of kind ``anthropic_oauth``), during the rotation's grace
overlap. ``validate`` asks the platform to probe the credential (``mcp_oauth_validate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from mcpb.urls import normalize_url, same_server
from vaults import links
from vaults.errors import NotFoundError, OAuthError, PushError, RemoteError, UsageError
from vaults.index import Link, OAuthClient
from vaults.oauth import IssuedTokens, OAuthService
from vaults.remote import (
    META_NAME,
    META_STORE,
    OAUTH_KIND,
    AnthropicRemote,
    api_error,
    client_for,
)
from vaults.rotation import register_pusher

if TYPE_CHECKING:
    from anthropic import Anthropic

    from vaults.store import Store

KIND = OAUTH_KIND


def token_endpoint_for(mcp_url: str) -> str:
    """The bridge's token endpoint for its MCP URL: ``/token`` at the issuer (the URL without
    its ``/mcp`` or ``/sse`` endpoint)."""
    parts = urlsplit(mcp_url)
    path = parts.path.rstrip("/")
    for endpoint in ("/mcp", "/sse"):
        if path.endswith(endpoint):
            path = path[: -len(endpoint)]
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/token", "", ""))


def _expiry(issued: IssuedTokens) -> str:
    return datetime.fromtimestamp(issued.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Validation:
    """The platform's verdict on a linked credential, with one line per finding."""

    link: Link
    status: str  # valid | invalid | unknown
    lines: tuple[str, ...]
    raw: dict[str, Any]


class OAuthLinks:
    """Links OAuth clients to Anthropic vaults as ``mcp_oauth`` credentials."""

    def __init__(self, store: Store, client: Anthropic | Callable[[], Anthropic]) -> None:
        self.store = store
        self.remote = AnthropicRemote(store, client)
        self.oauth = OAuthService(store)

    def _client(self, name: str) -> OAuthClient:
        client = self.oauth.named(name)
        if client.revoked:
            raise UsageError(f"the OAuth client {name} is revoked; add a new one")
        if client.public:
            raise UsageError(
                f"{name} is a public client (no secret): the platform needs a confidential "
                "client; add one with mcp-vault oauth client add NAME"
            )
        if "refresh_token" not in client.grant_types:
            raise UsageError(
                f"{name} may not use refresh tokens; add a client with --grant refresh_token"
            )
        return client

    def _auth(
        self, client: OAuthClient, issued: IssuedTokens, secret: str, *, create: bool, url: str,
        token_endpoint: str,
    ) -> dict[str, Any]:  # fmt: skip
        method = client.auth_method
        refresh: dict[str, Any] = {
            "refresh_token": issued.refresh_token,
            "token_endpoint_auth": {"type": method, "client_secret": secret},
            "scope": " ".join(issued.scopes),
        }
        auth: dict[str, Any] = {
            "type": "mcp_oauth",
            "access_token": issued.access_token,
            "expires_at": _expiry(issued),
            "refresh": refresh,
        }
        if create:
            auth["mcp_server_url"] = url
            refresh["client_id"] = client.client_id
            refresh["token_endpoint"] = token_endpoint
            if not refresh["scope"]:
                del refresh["scope"]
        return auth

    def link(self, name: str, *, vault: str, url: str, token_endpoint: str | None = None) -> Link:
        """Create, or update in place, the ``mcp_oauth`` credential for ``url`` in ``vault``."""
        client = self._client(name)
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--url {url!r} must be the bridge's absolute http(s) MCP URL")
        endpoint = token_endpoint or token_endpoint_for(url)
        info = self.store.show(name)
        current = info.current
        if current is None:
            raise NotFoundError(f"{name} has no current secret; run mcp-vault rotate {name}")
        vault_id = self.remote.resolve_vault(vault)
        secret = self.store.secret(name)
        existing = next(
            (
                link for link in self.store.links(name)
                if link.kind == KIND and link.vault_id == vault_id and same_server(link.url, url)
            ),
            None,
        )  # fmt: skip
        origin = f"link:{vault_id}:{normalize_url(url)}"
        try:
            issued = self.oauth.issue_grant(client, origin)
        except OAuthError as exc:
            raise UsageError(str(exc)) from exc
        try:
            remote_id = self._put(client, issued, secret, vault_id, url, endpoint, existing, name)
        except BaseException:
            # Nothing remote holds this grant: end it, so no token of it outlives the failure.
            if issued.refresh_token is not None:
                self.oauth.revoke_token(issued.refresh_token)
            raise
        # The credential holds the new grant now: the one it held before (if any) ends.
        self.oauth.replace_grants(client, origin, issued.grant_id)
        if existing is not None:
            return links.update(self.store, existing.id, pushed_version=current.version)
        link = links.add(
            self.store, name, kind=KIND, vault_id=vault_id, url=url, remote_id=remote_id
        )
        return links.update(self.store, link.id, pushed_version=current.version)

    def _put(
        self, client: OAuthClient, issued: IssuedTokens, secret: str, vault_id: str, url: str,
        endpoint: str, existing: Link | None, name: str,
    ) -> str:  # fmt: skip
        import anthropic

        credentials = self.remote.client.beta.vaults.credentials
        if existing is not None and existing.remote_id is not None:
            self._update(vault_id, existing.remote_id, client, issued, secret, url, endpoint)
            return existing.remote_id
        try:
            created = self.remote.client.with_options(max_retries=0).beta.vaults.credentials.create(
                vault_id,
                auth=self._auth(  # type: ignore[arg-type]
                    client, issued, secret, create=True, url=url, token_endpoint=endpoint
                ),
                display_name=f"mcp-vault oauth {name}",
                metadata={META_STORE: self.store.store_id, META_NAME: name},
            )
            return created.id
        except anthropic.ConflictError as exc:
            found = next(
                (
                    c for c in credentials.list(vault_id, limit=100)
                    if same_server(getattr(c.auth, "mcp_server_url", "") or "", url)
                ),
                None,
            )  # fmt: skip
            if found is None:
                raise api_error(f"creating the credential for {url} in {vault_id}", exc) from exc
            meta = found.metadata or {}
            ours = meta.get(META_STORE) == self.store.store_id and meta.get(META_NAME) == name
            refresh = getattr(found.auth, "refresh", None)
            same = (
                found.auth.type == "mcp_oauth" and refresh is not None
                and refresh.client_id == client.client_id and refresh.token_endpoint == endpoint
            )  # fmt: skip
            if not (ours and same):
                what = found.auth.type if ours else "not managed by this store"
                raise RemoteError(
                    f"vault {vault_id} already has a credential for {url}: {found.id} ({what}); "
                    "archive it (mcp-vault remote unlink, the console or the API) and link again",
                    status_code=409,
                ) from exc
            self._update(vault_id, found.id, client, issued, secret, url, endpoint)
            return found.id
        except anthropic.APIError as exc:
            raise api_error(f"creating the credential for {url} in {vault_id}", exc) from exc

    def _update(
        self, vault_id: str, credential_id: str, client: OAuthClient, issued: IssuedTokens,
        secret: str, url: str, endpoint: str,
    ) -> None:  # fmt: skip
        import anthropic

        auth = self._auth(client, issued, secret, create=False, url=url, token_endpoint=endpoint)
        try:
            self.remote.client.beta.vaults.credentials.update(
                credential_id, vault_id=vault_id, auth=auth,  # type: ignore[arg-type]
            )  # fmt: skip
        except anthropic.APIError as exc:
            raise api_error(f"updating credential {credential_id} of {client.name}", exc) from exc

    def push(self, link: Link, value: str) -> None:
        """The rotation pusher: the client's new secret into the linked credential."""
        import anthropic

        if link.remote_id is None:
            raise PushError(f"link {link.id} of {link.credential} has no remote credential id")
        client = self.oauth.named(link.credential)
        try:
            self.remote.client.beta.vaults.credentials.update(
                link.remote_id,
                vault_id=link.vault_id,
                auth={  # type: ignore[arg-type]
                    "type": "mcp_oauth",
                    "refresh": {
                        "token_endpoint_auth": {"type": client.auth_method, "client_secret": value}
                    },
                },
            )
        except anthropic.APIError as exc:
            action = f"updating the client secret in credential {link.remote_id}"
            raise PushError(str(api_error(action, exc, retry_hint=False))) from exc

    def validate(self, name: str, *, vault: str | None = None) -> list[Validation]:
        """``mcp_oauth_validate`` on every OAuth link of ``name`` (in ``vault``)."""
        import anthropic

        vault_id = None if vault is None else self.remote.resolve_vault(vault, create=False)
        found = [
            link for link in self.store.links(name)
            if link.kind == KIND and (vault_id is None or link.vault_id == vault_id)
        ]  # fmt: skip
        if not found:
            raise NotFoundError(
                f"{name} has no OAuth link{'' if vault is None else f' to {vault}'}; "
                f"run mcp-vault remote link {name} --oauth --vault VAULT"
            )
        results = []
        for link in found:
            assert link.remote_id is not None
            try:
                verdict = self.remote.client.beta.vaults.credentials.mcp_oauth_validate(
                    link.remote_id, vault_id=link.vault_id
                )
            except anthropic.APIError as exc:
                raise api_error(f"validating credential {link.remote_id}", exc) from exc
            results.append(_validation(link, verdict.model_dump(mode="json")))
        return results


def _validation(link: Link, raw: dict[str, Any]) -> Validation:
    lines = [f"{link.vault_id}/{link.remote_id}: {raw.get('status')}"]
    probe = raw.get("mcp_probe")
    if probe:
        response = probe.get("http_response") or {}
        lines.append(f"mcp probe {probe.get('method')}: HTTP {response.get('status_code')}")
    refresh = raw.get("refresh")
    if refresh:
        response = refresh.get("http_response") or {}
        status = response.get("status_code")
        lines.append(f"refresh: {refresh.get('status')}" + (f" (HTTP {status})" if status else ""))
    if not raw.get("has_refresh_token", True):
        lines.append("the credential holds no refresh token: link it again")
    return Validation(link, str(raw.get("status")), tuple(lines), raw)


def install_pusher(
    store: Store, client: Anthropic | Callable[[], Anthropic] | None = None
) -> OAuthLinks:
    """Register the pusher of rotated client secrets (links of kind ``anthropic_oauth``)."""
    found = OAuthLinks(store, client if client is not None else (lambda: client_for(store)))
    register_pusher(KIND, found)
    return found
