"""Anthropic vault sync: link a bridge token to ``static_bearer`` credentials and keep them current.

A link is one Anthropic vault credential (``vcrd_...`` in ``vlt_...``) for one MCP server URL,
holding the current value of one of our tokens. Rotation's push step updates every link in
place (same credential id); ``sync`` pushes current values again, idempotently. The SDK retries
409s by default; every call that can answer 409 here is made with retries off, so a conflict
surfaces at once and is handled (adopted or refused) instead of being sent three times.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcpb.urls import normalize_url, same_server
from vaults import links
from vaults.errors import NotFoundError, PushError, RemoteError, UsageError
from vaults.index import Link
from vaults.rotation import owning, register_pusher

if TYPE_CHECKING:
    from anthropic import Anthropic
    from anthropic.types.beta.vaults import BetaManagedAgentsCredential

    from vaults.store import Store

KIND = "anthropic"
OAUTH_KIND = "anthropic_oauth"  # an OAuth client's mcp_oauth credential (vaults.oauth_link)
API_KEY_SECRET = "anthropic-api-key"  # noqa: S105 - the name of a credential, not a value
META_STORE = "mcp-vault-store"
META_NAME = "mcp-vault-credential"


_HINTS = {
    401: "check ANTHROPIC_API_KEY (or the stored anthropic-api-key secret)",
    403: "the API key lacks access to this workspace",
    404: "it does not exist (archived or deleted?); run mcp-vault doctor",
}
_RETRY = "retry later (mcp-vault rotate --resume / remote sync)"


def api_error(action: str, exc: Exception, *, retry_hint: bool = True) -> RemoteError:
    # Rotation gives its own "run mcp-vault rotate NAME --resume": no second hint then.
    from mcpb.api import describe  # imports anthropic: not at module level (mcp-vault list)

    retry = _RETRY if retry_hint else None
    hints = {**_HINTS, 429: f"rate limited; {retry}" if retry else "rate limited"}
    failure = describe(action, exc, hints=hints, otherwise=retry, error=RemoteError)
    assert isinstance(failure, RemoteError)
    return failure


def api_key(store: Store) -> str:
    """``ANTHROPIC_API_KEY``, else the ``anthropic-api-key`` secret of the store."""
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key:
        return key
    if store.has_secret(API_KEY_SECRET):
        return store.secret(API_KEY_SECRET)
    raise RemoteError(
        "no Anthropic API key: set ANTHROPIC_API_KEY, or store one with "
        f"`mcp-vault add {API_KEY_SECRET} --kind secret` (value on stdin)"
    )


def client_for(store: Store, **options: Any) -> Anthropic:
    """An SDK client with the store's API key; ``ANTHROPIC_BASE_URL`` is honoured by the SDK."""
    import anthropic

    return anthropic.Anthropic(api_key=api_key(store), **options)


@dataclass(frozen=True)
class LinkCheck:
    """What ``AnthropicRemote.check`` found for one link: ``ok``, and a line saying why."""

    link: Link
    ok: bool
    detail: str


class AnthropicRemote:
    """Links, pushes and checks the store's tokens in Anthropic vaults."""

    def __init__(self, store: Store, client: Anthropic | Callable[[], Anthropic]) -> None:
        self.store = store
        self._client = client

    @property
    def client(self) -> Anthropic:
        if callable(self._client) and not hasattr(self._client, "beta"):
            self._client = self._client()
        return self._client  # type: ignore[return-value]

    @property
    def _no_retry(self) -> Anthropic:
        return self.client.with_options(max_retries=0)

    # --- vaults ---------------------------------------------------------------------------

    def resolve_vault(self, vault: str, *, create: bool = True) -> str:
        """The id of ``vault`` (a ``vlt_`` id, or a display name found by listing)."""
        import anthropic

        if vault.startswith("vlt_"):
            try:
                return self.client.beta.vaults.retrieve(vault).id
            except anthropic.APIError as exc:
                raise api_error(f"looking up vault {vault}", exc) from exc
        try:
            matches = [
                v for v in self.client.beta.vaults.list(limit=100) if v.display_name == vault
            ]
        except anthropic.APIError as exc:
            raise api_error("listing vaults", exc) from exc
        if len(matches) > 1:
            ids = ", ".join(v.id for v in matches)
            raise UsageError(f"several vaults are named {vault!r} ({ids}); pass the vlt_ id")
        if matches:
            return matches[0].id
        if not create:
            raise NotFoundError(
                f"no Anthropic vault named {vault!r}; check the name or use its vlt_ id"
            )
        try:
            return self._no_retry.beta.vaults.create(
                display_name=vault, metadata={META_STORE: self.store.store_id}
            ).id
        except anthropic.APIError as exc:
            raise api_error(f"creating vault {vault!r}", exc) from exc

    def _credentials(self, vault_id: str) -> Iterator[BetaManagedAgentsCredential]:
        import anthropic

        try:
            yield from self.client.beta.vaults.credentials.list(vault_id, limit=100)
        except anthropic.APIError as exc:
            raise api_error(f"listing credentials of {vault_id}", exc) from exc

    # --- link / push / sync / unlink ----------------------------------------------------------

    def _ours(self, credential: BetaManagedAgentsCredential, name: str) -> bool:
        meta = credential.metadata or {}
        return meta.get(META_STORE) == self.store.store_id and meta.get(META_NAME) == name

    def link(self, name: str, *, vault: str, url: str) -> Link:
        """Create (or adopt) the credential for ``url`` in ``vault`` holding ``name``'s token."""
        import anthropic

        info = self.store.show(name)
        if info.kind != "token":
            raise UsageError(f"{name} is a {info.kind}; only tokens can be linked to a vault")
        if not url.startswith(("http://", "https://")):
            raise UsageError(
                f"--url {url!r} must be an absolute http(s) URL (the bridge's public URL)"
            )
        current = info.current
        if current is None:
            raise NotFoundError(f"{name} has no current version; run mcp-vault rotate {name}")
        vault_id = self.resolve_vault(vault)
        for link in self.store.links(name):
            if link.kind == KIND and link.vault_id == vault_id and same_server(link.url, url):
                return self.push_link(link)
        value = self.store.secret(name)
        try:
            created = self._no_retry.beta.vaults.credentials.create(
                vault_id,
                auth={"type": "static_bearer", "mcp_server_url": url, "token": value},
                display_name=f"mcp-vault {name}",
                metadata={META_STORE: self.store.store_id, META_NAME: name},
            )
            remote_id = created.id
        except anthropic.ConflictError as exc:
            existing = next(
                (
                    c
                    for c in self._credentials(vault_id)
                    if same_server(getattr(c.auth, "mcp_server_url", "") or "", url)
                ),
                None,
            )
            if existing is None:
                raise api_error(f"creating the credential for {url} in {vault_id}", exc) from exc
            if not self._ours(existing, name):
                label = f" ({existing.display_name!r})" if existing.display_name else ""
                raise RemoteError(
                    f"vault {vault_id} already has a credential for {url}: {existing.id}{label}, "
                    "not managed by this store; archive it (console, or the API) or link to "
                    "another vault",
                    status_code=409,
                ) from exc
            remote_id = existing.id
            self._update(vault_id, remote_id, value, name)
        except anthropic.APIError as exc:
            raise api_error(f"creating the credential for {url} in {vault_id}", exc) from exc
        link = links.add(
            self.store, name, kind=KIND, vault_id=vault_id, url=url, remote_id=remote_id
        )
        return links.update(self.store, link.id, pushed_version=current.version)

    def _update(
        self, vault_id: str, credential_id: str, value: str, name: str, *, retry_hint: bool = True
    ) -> None:
        import anthropic

        try:  # an update cannot conflict, so the SDK's retries (5xx, 429) are welcome here
            self.client.beta.vaults.credentials.update(
                credential_id,
                vault_id=vault_id,
                auth={"type": "static_bearer", "token": value},
            )
        except anthropic.APIError as exc:
            action = f"updating credential {credential_id} of {name}"
            raise api_error(action, exc, retry_hint=retry_hint) from exc

    def _push(self, link: Link, value: str, *, retry_hint: bool) -> None:
        if link.remote_id is None:
            raise PushError(
                f"link {link.id} of {link.credential} has no remote credential id; unlink it "
                "and run mcp-vault remote link again"
            )
        self._update(link.vault_id, link.remote_id, value, link.credential, retry_hint=retry_hint)

    def push(self, link: Link, value: str) -> None:
        """The rotation pusher: update the linked credential in place with ``value``."""
        try:
            self._push(link, value, retry_hint=False)
        except RemoteError as exc:
            raise PushError(str(exc)) from exc

    def push_link(self, link: Link) -> Link:
        """Push the current value of the link's credential; records the pushed version."""
        # One pusher at a time across replicas: a push of the current value racing a rotation's
        # push of the new one could leave the remote with the older token.
        with owning(self.store, link.credential):
            info = self.store.show(link.credential)
            if info.current is None:
                raise NotFoundError(f"{link.credential} has no current version to push")
            self._push(link, self.store.secret(link.credential), retry_hint=True)
            return links.update(self.store, link.id, pushed_version=info.current.version)

    def sync(self, name: str | None = None) -> list[Link]:
        """Push current values to every link (of ``name``); idempotent."""
        return [self.push_link(link) for link in self.store.links(name) if link.kind == KIND]

    def unlink(self, name: str, *, vault: str) -> list[Link]:
        """Archive the remote credential(s) of ``name`` in ``vault`` (``static_bearer`` or
        ``mcp_oauth``) and forget the links."""
        import anthropic

        vault_id = self.resolve_vault(vault, create=False)
        found = [
            link
            for link in self.store.links(name)
            if link.kind in (KIND, OAUTH_KIND) and link.vault_id == vault_id
        ]
        if not found:
            raise NotFoundError(f"{name} is not linked to vault {vault}; see mcp-vault remote list")
        for link in found:
            if link.remote_id is not None:
                try:
                    self._no_retry.beta.vaults.credentials.archive(
                        link.remote_id, vault_id=vault_id
                    )
                except anthropic.NotFoundError:
                    pass  # already gone: forgetting the link is all that is left to do
                except anthropic.APIError as exc:
                    raise api_error(f"archiving credential {link.remote_id}", exc) from exc
            links.remove(self.store, link.id)
        return found

    def check(self, link: Link, public_url: str | None = None) -> LinkCheck:
        """Does the remote credential exist, unarchived, for the recorded (and public) URL?"""
        import anthropic

        where = f"{link.credential} -> {link.vault_id}/{link.remote_id}"
        if link.remote_id is None:
            return LinkCheck(
                link, False, f"{where}: no remote credential id; run remote link again"
            )
        try:
            credential = self.client.beta.vaults.credentials.retrieve(
                link.remote_id, vault_id=link.vault_id
            )
        except anthropic.NotFoundError:
            return LinkCheck(link, False, f"{where}: the remote credential no longer exists; "
                             f"run mcp-vault remote link {link.credential} again")  # fmt: skip
        except anthropic.APIError as exc:
            return LinkCheck(link, False, f"{where}: {api_error('checking', exc)}")
        if credential.archived_at is not None:
            return LinkCheck(link, False, f"{where}: the remote credential is archived; link again")
        remote_url = getattr(credential.auth, "mcp_server_url", None) or ""
        if remote_url != link.url:
            return LinkCheck(
                link, False, f"{where}: remote URL {remote_url} differs from {link.url}"
            )
        if public_url is not None and normalize_url(remote_url) != normalize_url(public_url):
            return LinkCheck(
                link,
                False,
                f"{where}: URL {remote_url} does not match the bridge's public_url {public_url}; "
                "the platform would call the bridge without this token",
            )
        info = self.store.show(link.credential)
        if info.current is not None and link.pushed_version < info.current.version:
            return LinkCheck(
                link,
                False,
                f"{where}: holds version {link.pushed_version}, current is "
                f"{info.current.version}; run mcp-vault rotate {link.credential} --resume "
                "or mcp-vault remote sync",
            )
        return LinkCheck(link, True, f"{where}: ok ({remote_url}, version {link.pushed_version})")


def install_pusher(
    store: Store, client: Anthropic | Callable[[], Anthropic] | None = None
) -> AnthropicRemote:
    """Register the Anthropic pusher used by rotation's push step; the client is made lazily."""
    remote = AnthropicRemote(store, client if client is not None else (lambda: client_for(store)))
    register_pusher(KIND, remote)
    return remote
