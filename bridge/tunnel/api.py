"""The Tunnels API (``client.beta.tunnels``), through the real ``anthropic`` SDK.

Authentication is the SDK's own: ``ANTHROPIC_API_KEY`` or the store's ``anthropic-api-key``
secret when there is one (as for the vault sync), else whatever the SDK resolves by itself
(``ANTHROPIC_AUTH_TOKEN``, a profile, or Workload Identity Federation from
``ANTHROPIC_IDENTITY_TOKEN[_FILE]`` + ``ANTHROPIC_FEDERATION_RULE_ID`` +
``ANTHROPIC_ORGANIZATION_ID``). The docs say the Tunnels API wants a WIF bearer token with the
``workspace:manage_tunnels`` scope; a 401 or 403 says so in one line.

Creating a tunnel is not idempotent (each call allocates a new hostname), so it is made with
retries off, and adopted by display name before anything is created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bridge.errors import TunnelError

if TYPE_CHECKING:
    from anthropic import Anthropic
    from anthropic.types.beta import BetaTunnel, BetaTunnelToken
    from anthropic.types.beta.tunnels import BetaTunnelCertificate

    from vaults.store import Store

_T = TypeVar("_T")
_SCOPE = (
    "the Tunnels API needs a bearer token with the workspace:manage_tunnels scope: set up "
    "Workload Identity Federation (ANTHROPIC_IDENTITY_TOKEN_FILE, ANTHROPIC_FEDERATION_RULE_ID, "
    "ANTHROPIC_ORGANIZATION_ID) and unset ANTHROPIC_API_KEY, which shadows it"
)


def client_for(store: Store, **options: Any) -> Anthropic:
    """An SDK client: the store's API key if there is one, else the SDK's own resolution."""
    import anthropic

    from vaults.errors import RemoteError
    from vaults.remote import client_for as vault_client

    try:
        return vault_client(store, **options)
    except RemoteError:
        pass  # no API key: let the SDK find a token, a profile or a federation rule itself
    client = anthropic.Anthropic(**options)
    if client.api_key is None and client.auth_token is None and client.credentials is None:
        raise TunnelError(f"no Anthropic credentials found; {_SCOPE}")
    return client


class TunnelsApi:
    """The calls ``tunnel up/status/down`` and the rotation plugin make, with errors as lines."""

    def __init__(self, client: Anthropic, *, workspace: str | None = None) -> None:
        self.client = client
        self.workspace = workspace

    @property
    def _options(self) -> dict[str, Any]:
        return {"workspace_id": self.workspace} if self.workspace else {}

    def _call(self, action: str, call: Callable[[], _T], *, tunnel_id: str | None = None) -> _T:
        import anthropic

        try:
            return call()
        except anthropic.APIError as exc:
            raise failure(action, exc, tunnel_id=tunnel_id, workspace=self.workspace) from exc

    # --- tunnels ------------------------------------------------------------------------------

    def retrieve(self, tunnel_id: str) -> BetaTunnel:
        tunnels = self.client.beta.tunnels
        return self._call(
            f"looking up tunnel {tunnel_id}",
            lambda: tunnels.retrieve(tunnel_id, **self._options),
            tunnel_id=tunnel_id,
        )

    def find(self, display_name: str) -> list[BetaTunnel]:
        """The active tunnels named ``display_name``, newest first."""
        tunnels = self.client.beta.tunnels

        def matches() -> list[BetaTunnel]:
            pages = tunnels.list(limit=1000, **self._options)
            return [t for t in pages if t.display_name == display_name]

        return self._call("listing tunnels", matches)

    def create(self, display_name: str) -> BetaTunnel:
        tunnels = self.client.with_options(max_retries=0).beta.tunnels
        return self._call(
            f"creating tunnel {display_name!r}",
            lambda: tunnels.create(display_name=display_name, **self._options),
        )

    def archive(self, tunnel_id: str) -> BetaTunnel:
        tunnels = self.client.beta.tunnels
        return self._call(
            f"archiving tunnel {tunnel_id}",
            lambda: tunnels.archive(tunnel_id, **self._options),
            tunnel_id=tunnel_id,
        )

    def reveal_token(self, tunnel_id: str) -> BetaTunnelToken:
        tunnels = self.client.beta.tunnels
        return self._call(
            f"revealing the token of tunnel {tunnel_id}",
            lambda: tunnels.reveal_token(tunnel_id, **self._options),
            tunnel_id=tunnel_id,
        )

    def rotate_token(self, tunnel_id: str) -> BetaTunnelToken:
        # Not idempotent: a retry after a lost answer would rotate twice, so none.
        tunnels = self.client.with_options(max_retries=0).beta.tunnels
        return self._call(
            f"rotating the token of tunnel {tunnel_id}",
            lambda: tunnels.rotate_token(tunnel_id, reason="mcp-vault rotation", **self._options),
            tunnel_id=tunnel_id,
        )

    # --- certificates -------------------------------------------------------------------------

    def certificates(self, tunnel_id: str) -> list[BetaTunnelCertificate]:
        """The tunnel's non-archived CA certificates, newest first."""
        certificates = self.client.beta.tunnels.certificates
        return self._call(
            f"listing the certificates of tunnel {tunnel_id}",
            lambda: list(certificates.list(tunnel_id, limit=1000, **self._options)),
            tunnel_id=tunnel_id,
        )

    def add_certificate(self, tunnel_id: str, pem: str) -> BetaTunnelCertificate:
        certificates = self.client.with_options(max_retries=0).beta.tunnels.certificates
        return self._call(
            f"registering a CA certificate on tunnel {tunnel_id}",
            lambda: certificates.create(tunnel_id, ca_certificate_pem=pem, **self._options),
            tunnel_id=tunnel_id,
        )

    def archive_certificate(self, tunnel_id: str, certificate_id: str) -> BetaTunnelCertificate:
        certificates = self.client.beta.tunnels.certificates
        return self._call(
            f"archiving certificate {certificate_id} of tunnel {tunnel_id}",
            lambda: certificates.archive(certificate_id, tunnel_id=tunnel_id, **self._options),
            tunnel_id=tunnel_id,
        )


def failure(
    action: str, exc: BaseException, *, tunnel_id: str | None = None, workspace: str | None = None
) -> TunnelError:
    """One line for a failed Tunnels API call, saying which credential or workspace is needed."""
    from mcpb.api import describe

    where = f"workspace {workspace}" if workspace else "the credentials' own workspace"
    hints = {
        401: _SCOPE,
        403: f"{_SCOPE}; the service account must be a member of the tunnel's workspace",
        404: (
            f"tunnel {tunnel_id} was not found in {where}: tunnels are workspace-scoped; use "
            "credentials of the tunnel's workspace or set [tunnel] workspace"
            if tunnel_id
            else "check the id"
        ),
        409: "the tunnel holds two certificates already; archive one (mcp-bridge tunnel status)",
        429: "rate limited; retry later",
    }
    described = describe(action, exc, hints=hints, otherwise="retry later", error=TunnelError)
    assert isinstance(described, TunnelError)
    return described
