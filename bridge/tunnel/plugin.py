"""The tunnel's part in ``mcp-vault rotate``: two generators and three link kinds.

Registered through the entry point ``mcp_vault.rotation`` (``install``), so that
``mcp-vault rotate --due`` from cron finds them without the bridge running.

- Generator ``mcp-tunnel-token`` makes the connector token's next value with ``rotate_token``.
  That call is not idempotent, and a crash may hit between it and the vault storing the value:
  so it first reveals the token, and when the token's id differs from the one recorded for the
  current version, the tunnel's token was already rotated (by the crashed run, or in the
  Console) and that value is taken instead of rotating again.
- Generator ``mcp-tunnel-certs`` makes a new CA and a server certificate (one bundle).
- Link ``tunnel-env`` writes the token to the deployment folder's ``.env``.
- Link ``tunnel-ca`` registers the bundle's CA on the tunnel (found again by fingerprint on a
  rerun); when the tunnel holds two already, the oldest one this store registered other than the
  current version's is archived first (at most two are live). When a version retires (its grace
  ended) its CA is archived.
- Link ``tunnel-files`` writes the certificates and the server key to the folder (after the CA is
  registered: links push in the order they were added).

A link's ``vault_id`` is the tunnel id (``tnl_...``, with ``@wrkspc_...`` when the tunnel lives
in a named workspace); ``url`` is the tunnel URL (``tunnel-ca``) or the folder (``file://``).
"""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bridge.errors import TunnelError
from bridge.tunnel import certificates, deployment
from bridge.tunnel.api import TunnelsApi, client_for
from vaults.errors import PushError, RotationError
from vaults.index import CredentialInfo, Link
from vaults.rotation import register_generator, register_pusher
from vaults.store import Store

TOKEN_GENERATOR = "mcp-tunnel-token"  # noqa: S105 - a generator name, not a value
CERTS_GENERATOR = "mcp-tunnel-certs"
ENV_LINK = "tunnel-env"
CA_LINK = "tunnel-ca"
FILES_LINK = "tunnel-files"


def tunnel_ref(tunnel_id: str, workspace: str | None) -> str:
    """A link's ``vault_id`` for a tunnel."""
    return f"{tunnel_id}@{workspace}" if workspace else tunnel_id


def parse_ref(vault_id: str) -> tuple[str, str | None]:
    tunnel_id, _, workspace = vault_id.partition("@")
    return tunnel_id, workspace or None


def folder_url(folder: Path) -> str:
    return folder.absolute().as_uri()


def folder_of(link: Link) -> Path:
    return Path(unquote(urlsplit(link.url).path))


def domain_of(url: str) -> str:
    """The tunnel domain of a tunnel URL (``https://sub.<domain>/mcp``)."""
    return (urlsplit(url).hostname or "").partition(".")[2]


class _Plugin:
    def __init__(self, store: Store, api: TunnelsApi | None = None) -> None:
        self.store = store
        self._api = api

    def api(self, link: Link) -> TunnelsApi:
        _, workspace = parse_ref(link.vault_id)
        if self._api is not None:
            return TunnelsApi(self._api.client, workspace=workspace)
        return TunnelsApi(client_for(self.store), workspace=workspace)

    def link(self, info: CredentialInfo, kind: str) -> Link:
        found = next((link for link in info.links if link.kind == kind), None)
        if found is None:
            raise RotationError(
                f"{info.name} has no {kind} link (which tunnel?); rerun mcp-bridge tunnel up"
            )
        return found

    def current_ref(self, info: CredentialInfo, link: Link) -> str | None:
        current = info.current
        if current is None:
            return None
        with self.store.index.read():
            push = self.store.index.pushes.get(link.id, current.version)
        return push.ref if push else None


class TokenGenerator(_Plugin):
    def generate(self, info: CredentialInfo) -> str:
        link = self.link(info, ENV_LINK)
        tunnel_id, _ = parse_ref(link.vault_id)
        api = self.api(link)
        try:
            revealed = api.reveal_token(tunnel_id)
            known = self.current_ref(info, link)
            if known is not None and revealed.id != known:
                return revealed.tunnel_token  # already rotated: do not rotate twice
            return api.rotate_token(tunnel_id).tunnel_token
        except TunnelError as exc:
            raise RotationError(str(exc)) from exc


class CertsGenerator(_Plugin):
    def generate(self, info: CredentialInfo) -> str:
        link = self.link(info, CA_LINK)
        return certificates.generate(domain_of(link.url)).to_value()


class EnvPusher(_Plugin):
    def push(self, link: Link, value: str) -> str | None:
        tunnel_id, _ = parse_ref(link.vault_id)
        try:
            deployment.write_token(folder_of(link), value)
            revealed = self.api(link).reveal_token(tunnel_id)
        except (TunnelError, OSError) as exc:
            raise PushError(str(exc)) from exc
        same = hmac.compare_digest(revealed.tunnel_token.encode(), value.encode())
        return revealed.id if same else None


class CaPusher(_Plugin):
    def push(self, link: Link, value: str) -> str | None:
        tunnel_id, _ = parse_ref(link.vault_id)
        api = self.api(link)
        fingerprint = certificates.Bundle.from_value(value).ca_fingerprint
        try:
            live = api.certificates(tunnel_id)
            found = next((cert for cert in live if cert.fingerprint == fingerprint), None)
            if found is not None:
                return found.id
            self._make_room(api, tunnel_id, link, live)
            return api.add_certificate(
                tunnel_id, certificates.Bundle.from_value(value).ca_cert_pem
            ).id
        except TunnelError as exc:
            raise PushError(str(exc)) from exc

    def _make_room(self, api: TunnelsApi, tunnel_id: str, link: Link, live: list) -> None:
        info = self.store.show(link.credential)
        keep = self.current_ref(info, link)
        with self.store.index.read():
            ours = {p.ref for p in self.store.index.pushes.of(info.id) if p.link.id == link.id}
        spare = sorted(
            (cert for cert in live if cert.id in ours and cert.id != keep),
            key=lambda cert: cert.created_at,
        )
        while len(live) >= 2 and spare:
            oldest = spare.pop(0)
            api.archive_certificate(tunnel_id, oldest.id)
            live = [cert for cert in live if cert.id != oldest.id]
        if len(live) >= 2:
            raise TunnelError(
                f"tunnel {tunnel_id} holds two CA certificates that this store did not register; "
                "archive one in the Console, then run mcp-vault rotate --resume"
            )

    def retire(self, link: Link, version: int, ref: str | None) -> None:
        if ref is None:
            return
        import anthropic

        tunnel_id, _ = parse_ref(link.vault_id)
        try:
            self.api(link).archive_certificate(tunnel_id, ref)
        except TunnelError as exc:
            if isinstance(exc.__cause__, anthropic.NotFoundError):
                return  # the tunnel (or the certificate) is gone: nothing left to undo
            raise PushError(str(exc)) from exc


class FilesPusher(_Plugin):
    def push(self, link: Link, value: str) -> str | None:
        try:
            deployment.write_certificates(folder_of(link), certificates.Bundle.from_value(value))
        except OSError as exc:
            raise PushError(f"writing the certificates to {folder_of(link)}: {exc}") from exc
        return None


def install(store: Store, api: TunnelsApi | None = None) -> None:
    """Register the tunnel's generators and link kinds for ``store`` (the entry point)."""
    register_generator(TOKEN_GENERATOR, TokenGenerator(store, api))
    register_generator(CERTS_GENERATOR, CertsGenerator(store, api))
    register_pusher(ENV_LINK, EnvPusher(store, api))
    register_pusher(CA_LINK, CaPusher(store, api))
    register_pusher(FILES_LINK, FilesPusher(store, api))
