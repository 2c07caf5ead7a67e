"""``tunnel status``: is every part of the path from Anthropic to the bridge in place?

One :class:`~vaults.Check` per part: the tunnel, its registered CA certificates and the one the
folder's server certificate chains to, the server certificate's expiry, the connector token's
age, the deployment folder, each Anthropic vault credential's URL against the tunnel URL, and
the bridge answering on the proxy's route. :func:`vault_checks` is the part ``mcp-vault doctor``
runs (entry point ``mcp_vault.checks``): the stored bundles' expiry, from the store alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2

from bridge.config import CERT_WARNING_DAYS, BridgeConfig
from bridge.errors import TunnelError
from bridge.tunnel import certificates, deployment, inspection, plugin
from bridge.tunnel.api import TunnelsApi
from bridge.tunnel.setup import Setup, folder_of, names, subdomain_of, upstream_host
from vaults.doctor import Check
from vaults.errors import NotFoundError
from vaults.index import period, stamp
from vaults.remote import KIND as ANTHROPIC
from vaults.remote import AnthropicRemote
from vaults.store import Store


def _left(when: datetime, now: datetime) -> str:
    days = (when - now) / timedelta(days=1)
    return f"expires {stamp(when)} ({days:.0f} days)" if days > 0 else f"EXPIRED {stamp(when)}"


def bundle_checks(store: Store, name: str, *, now: datetime | None = None) -> list[Check]:
    """The server certificate of the bundle ``name``: in validity, and 14 days or more left."""
    moment = now or datetime.now(UTC)
    try:
        bundle = certificates.Bundle.from_value(store.secret(name))
    except (NotFoundError, TunnelError) as exc:
        return [Check(f"certificates {name}", False, str(exc))]
    expires = bundle.server_certificate.not_valid_after_utc
    ok = expires - moment >= timedelta(days=CERT_WARNING_DAYS)
    detail = f"server certificate {_left(expires, moment)}"
    if not ok:
        detail += f"; run mcp-vault rotate {name} (and have cron run mcp-vault rotate --due)"
    return [Check(f"certificates {name}", ok, detail)]


def vault_checks(store: Store) -> list[Check]:
    """The tunnel bundles in ``store`` and their expiry (for ``mcp-vault doctor``)."""
    found = []
    for info in store.list():
        if info.generator == plugin.CERTS_GENERATOR and info.current is not None:
            found += bundle_checks(store, info.name)
    return found


def status(path: Path, store: Store, api: TunnelsApi) -> list[Check]:
    """Every check of the tunnel that the config at ``path`` names."""
    setup = Setup(path, store, api)
    config = setup.config
    if config.tunnel.id is None:
        return [Check("tunnel", False, f"{path} names no tunnel; run mcp-bridge tunnel up")]
    tunnel = api.retrieve(config.tunnel.id)
    if tunnel.archived_at is not None:
        return [Check("tunnel", False, f"{tunnel.id} is archived; its hostname is gone for ever")]
    url = f"https://{subdomain_of(config)}.{tunnel.domain}/mcp"
    found = [Check("tunnel", True, f"{tunnel.id} {tunnel.display_name!r} {tunnel.domain}")]
    found += _certificates(store, api, tunnel.id, names(subdomain_of(config))[1])
    found += _token(store, config, names(subdomain_of(config))[0])
    problems = inspection.inspect(folder_of(config), f"{subdomain_of(config)}.{tunnel.domain}")
    found.append(
        Check("folder", not problems, "; ".join(problems) or f"{folder_of(config)}: ready")
    )
    found += _public_url(config, url)
    found += _vault_links(store, setup, url)
    found.append(_reachable(config))
    return found


def _certificates(store: Store, api: TunnelsApi, tunnel_id: str, name: str) -> list[Check]:
    registered = api.certificates(tunnel_id)
    listed = ", ".join(
        f"{cert.id} ({_left(cert.expires_at, datetime.now(UTC))})" if cert.expires_at else cert.id
        for cert in registered
    )
    found = [
        Check("registered CAs", bool(registered), listed or "none: the tunnel refuses traffic")
    ]
    try:
        bundle = certificates.Bundle.from_value(store.secret(name))
    except (NotFoundError, TunnelError) as exc:
        return [*found, Check(f"certificates {name}", False, str(exc))]
    fingerprints = {cert.fingerprint for cert in registered}
    ok = bundle.ca_fingerprint in fingerprints
    detail = "the current CA is registered" if ok else "the current CA is NOT registered"
    return [*found, Check("current CA", ok, detail), *bundle_checks(store, name)]


def _token(store: Store, config: BridgeConfig, name: str) -> list[Check]:
    try:
        info = store.show(name)
        value = store.secret(name)
    except NotFoundError as exc:
        return [Check("tunnel token", False, str(exc))]
    assert info.current is not None
    age = datetime.now(UTC) - info.current.created_at
    written = deployment.read_token(folder_of(config)) == value
    detail = (
        f"{name} v{info.current.version}, {period(round(age.total_seconds()))} old, "
        f"rotates every {period(info.rotate_every)}; "
        + ("in .env" if written else ".env differs: run mcp-vault remote sync or tunnel up")
    )
    return [Check("tunnel token", written, detail)]


def _public_url(config: BridgeConfig, url: str) -> list[Check]:
    ok = config.server.public_url == url
    detail = "the tunnel URL" if ok else f"{config.server.public_url}, not the tunnel URL {url}"
    return [Check("public URL", ok, detail)]


def _vault_links(store: Store, setup: Setup, url: str) -> list[Check]:
    remote = AnthropicRemote(store, lambda: setup.api.client)
    found = []
    for name in setup.token_names():
        for link in store.links(name):
            if link.kind == ANTHROPIC:
                result = remote.check(link, url)
                found.append(Check(f"vault credential {name}", result.ok, result.detail))
    if not found:
        found.append(
            Check(
                "vault credential",
                False,
                "no bridge token is linked to an Anthropic vault; "
                "run mcp-bridge tunnel up --vault VAULT",
            )
        )
    return found


def _reachable(config: BridgeConfig) -> Check:
    route = f"http://{upstream_host(config)}:{config.server.port}"
    try:
        response = httpx2.get(f"{route}/healthz", timeout=3)
    except httpx2.HTTPError as exc:
        return Check(
            "bridge",
            False,
            f"{route} does not answer ({type(exc).__name__}): start mcp-bridge serve",
        )
    return Check("bridge", response.status_code == 200, f"{route}/healthz: {response.status_code}")
