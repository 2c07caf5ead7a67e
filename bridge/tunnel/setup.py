"""``tunnel up`` and ``tunnel down``: the tunnel, its vault credentials, the folder, the URL.

``up`` is idempotent and resumable: the tunnel is found by the config's ``[tunnel] id``, else
adopted by display name, and only created when there is none (its id is written to the config
right away, so a crash after the create adopts it on the rerun). The connector token and the
certificate bundle live in the vault store as generated secrets (``tunnel-<sub>-token``,
``tunnel-<sub>-certs``) with links that write the folder and register the CA; a rerun pushes
the same values again, which changes nothing. Then the bridge's public URL becomes the tunnel
URL (in the config file) and every Anthropic vault credential of the bridge's tokens is linked
to exactly that URL (archived and created again where its URL differs: the API keeps
``mcp_server_url`` immutable).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from pathlib import Path

from bridge.config import BridgeConfig, load_config
from bridge.errors import TunnelError
from bridge.tunnel import certificates, config_file, deployment, inspection, plugin
from bridge.tunnel.api import TunnelsApi
from bridge.tunnel_config import subdomain_for
from vaults import links
from vaults.errors import NotFoundError
from vaults.index import Link
from vaults.remote import KIND as ANTHROPIC
from vaults.remote import AnthropicRemote
from vaults.rotation import assign
from vaults.store import Store


@dataclass
class Outcome:
    """What ``up`` did: the tunnel, its URL and folder, and one line per change made."""

    tunnel_id: str
    domain: str
    url: str
    folder: Path
    created: bool = False
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def names(subdomain: str) -> tuple[str, str]:
    """The vault credentials of a route: ``(token, certs)``."""
    stem = f"tunnel-{subdomain[:48]}"
    return f"{stem}-token", f"{stem}-certs"


def folder_of(config: BridgeConfig) -> Path:
    return config.config_dir / config.tunnel.folder


def subdomain_of(config: BridgeConfig) -> str:
    return config.tunnel.subdomain or subdomain_for(config.server.name)


def upstream_host(config: BridgeConfig) -> str:
    """The IPv4 address the proxy dials for the bridge (it dials IPv4 only)."""
    host = config.server.host
    if host in ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1"):  # noqa: S104 - compared
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4:
        raise TunnelError(
            f"[server] host {host!r}: the proxy reaches the bridge over IPv4 only; bind the "
            "bridge to 127.0.0.1 (the default) or to a private IPv4 address"
        )
    return host


class Setup:
    """``up`` and ``down`` for one bridge config."""

    def __init__(self, path: Path, store: Store, api: TunnelsApi) -> None:
        self.path = path
        self.store = store
        self.api = api
        self.config = load_config(path)

    def up(self, *, name: str | None = None, vault: str | None = None) -> Outcome:
        config = self.config
        if config.server.tls:
            raise TunnelError(
                "tunnel up routes the proxy to the bridge over loopback http (inner TLS ends at "
                "the proxy on this host); remove [server] tls_cert / tls_key for this bridge"
            )
        subdomain = subdomain_of(config)
        host = upstream_host(config)
        outcome = self._tunnel(name or config.tunnel.name or config.server.name, subdomain)
        folder = outcome.folder
        self._token(outcome)
        self._certificates(outcome)
        stack = deployment.Stack(
            folder,
            outcome.domain,
            subdomain,
            host,
            config.server.port,
            config.tunnel.proxy_image,
            config.tunnel.cloudflared_image,
        )
        deployment.write_stack(stack)
        problems = inspection.inspect(folder, stack.hostname)
        if problems:
            raise TunnelError(f"the deployment folder {folder} is not ready: {problems[0]}")
        outcome.changes += config_file.edit(self.path, {("server", "public_url"): outcome.url})
        self.config = load_config(self.path)
        if self.config.server.public_url != outcome.url:
            outcome.notes.append(
                f"MCP_BRIDGE_PUBLIC_URL overrides the config's public URL with "
                f"{self.config.server.public_url}; unset it to serve at {outcome.url}"
            )
        outcome.changes += self._relink(outcome.url, vault)
        return outcome

    # --- the tunnel ---------------------------------------------------------------------------

    def _tunnel(self, display_name: str, subdomain: str) -> Outcome:
        settings = self.config.tunnel
        created = False
        if settings.id is not None:
            tunnel = self.api.retrieve(settings.id)
            if tunnel.archived_at is not None:
                raise TunnelError(
                    f"tunnel {tunnel.id} is archived and its hostname is retired for ever; "
                    f"remove [tunnel] id from {self.path} to create a new tunnel"
                )
        else:
            found = self.api.find(display_name)
            if len(found) > 1:
                ids = ", ".join(t.id for t in found)
                raise TunnelError(
                    f"several active tunnels are named {display_name!r} ({ids}); "
                    f"set [tunnel] id in {self.path} to the one to use"
                )
            tunnel = found[0] if found else self.api.create(display_name)
            created = not found
        changes = config_file.edit(self.path, {("tunnel", "id"): tunnel.id})
        url = f"https://{subdomain}.{tunnel.domain}/mcp"
        outcome = Outcome(tunnel.id, tunnel.domain, url, folder_of(self.config), created)
        outcome.changes += [f"created tunnel {tunnel.id} ({tunnel.domain})"] if created else []
        outcome.changes += changes
        return outcome

    def _ref(self, outcome: Outcome) -> str:
        return plugin.tunnel_ref(outcome.tunnel_id, self.config.tunnel.workspace)

    def _fresh(self, name: str, outcome: Outcome) -> bool:
        """Whether ``name`` exists for this tunnel (a credential of another tunnel is dropped)."""
        try:
            info = self.store.show(name)
        except NotFoundError:
            return False
        if all(link.vault_id == self._ref(outcome) for link in info.links) and info.links:
            return True
        self.store.remove(name)
        outcome.changes.append(f"removed {name} (it belonged to another tunnel)")
        return False

    def _link(self, name: str, kind: str, outcome: Outcome, url: str) -> Link:
        for link in self.store.links(name):
            if link.kind == kind:
                return link
        return links.add(self.store, name, kind=kind, vault_id=self._ref(outcome), url=url)

    def _push(
        self, name: str, link: Link, pusher: plugin.EnvPusher | plugin.CaPusher | plugin.FilesPusher
    ) -> None:
        info = self.store.show(name)
        assert info.current is not None
        ref = pusher.push(link, self.store.secret(name))
        with self.store.index.write():
            self.store.index.pushes.record(link.id, info.current.version, ref, time.time())
        links.update(self.store, link.id, pushed_version=info.current.version)

    def _token(self, outcome: Outcome) -> None:
        name, _ = names(subdomain_of(self.config))
        if not self._fresh(name, outcome):
            revealed = self.api.reveal_token(outcome.tunnel_id)
            self.store.add_secret(name, revealed.tunnel_token)
            outcome.changes.append(f"stored the tunnel token as {name}")
        assign(
            self.store,
            name,
            plugin.TOKEN_GENERATOR,
            rotate_every=self.config.tunnel.rotate_token_every,
        )
        link = self._link(name, plugin.ENV_LINK, outcome, plugin.folder_url(outcome.folder))
        self._push(name, link, plugin.EnvPusher(self.store, self.api))

    def _certificates(self, outcome: Outcome) -> None:
        _, name = names(subdomain_of(self.config))
        if self._fresh(name, outcome):
            bundle = certificates.Bundle.from_value(self.store.secret(name))
            if not certificates.dns_names(bundle.server_certificate)[:1] == [outcome.domain]:
                raise TunnelError(f"{name} holds certificates for another domain; rotate it")
        else:
            bundle = certificates.generate(outcome.domain)
            self.store.add_secret(name, bundle.to_value())
            outcome.changes.append(f"generated a CA and a server certificate as {name}")
        assign(
            self.store,
            name,
            plugin.CERTS_GENERATOR,
            rotate_every=self.config.tunnel.rotate_certs_every,
        )
        ca_link = self._link(name, plugin.CA_LINK, outcome, outcome.url)
        files_link = self._link(name, plugin.FILES_LINK, outcome, plugin.folder_url(outcome.folder))
        before = {cert.id for cert in self.api.certificates(outcome.tunnel_id)}
        self._push(name, ca_link, plugin.CaPusher(self.store, self.api))
        self._push(name, files_link, plugin.FilesPusher(self.store, self.api))
        after = {cert.id for cert in self.api.certificates(outcome.tunnel_id)}
        outcome.changes += [f"registered CA certificate {cid}" for cid in sorted(after - before)]

    # --- the bridge's vault credentials -------------------------------------------------------

    def token_names(self) -> list[str]:
        """The bridge's tokens: ``[auth] tokens``, else every token in the store."""
        accepted = self.config.auth.tokens
        known = {info.name for info in self.store.list() if info.kind == "token"}
        return sorted(known if accepted is None else set(accepted) & known)

    def _relink(self, url: str, vault: str | None) -> list[str]:
        remote = AnthropicRemote(self.store, lambda: self.api.client)
        changes = []
        for name in self.token_names():
            for link in self.store.links(name):
                if link.kind != ANTHROPIC or link.url == url:
                    continue
                remote.unlink(name, vault=link.vault_id)
                remote.link(name, vault=link.vault_id, url=url)
                changes.append(f"re-linked {name} in {link.vault_id}: {link.url} -> {url}")
            if vault is not None:
                linked = remote.link(name, vault=vault, url=url)
                changes.append(f"linked {name} -> {linked.vault_id}/{linked.remote_id} for {url}")
        return changes

    # --- down ---------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Archive the tunnel (irreversible), drop its credentials and the folder's token."""
        tunnel_id = self.config.tunnel.id
        if tunnel_id is None:
            raise TunnelError(f"{self.path} names no tunnel ([tunnel] id); nothing to archive")
        tunnel = self.api.archive(tunnel_id)
        changes = [f"archived tunnel {tunnel.id}; {tunnel.domain} is retired for ever"]
        for name in names(subdomain_of(self.config)):
            try:
                self.store.remove(name)
            except NotFoundError:
                continue
            changes.append(f"removed {name} from the vault store")
        env = folder_of(self.config) / deployment.ENV_FILE
        if env.exists():
            env.unlink()
            changes.append(f"removed {env} (the token is invalid now)")
        changes += config_file.edit(self.path, {("tunnel", "id"): None})
        return changes
