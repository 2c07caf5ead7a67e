"""The deployment folder: a ready-to-run Docker Compose stack of the connector and the proxy.

Laid out as Anthropic's docs lay out the manual flow (deploy-compose, "Without programmatic
access"), hardened the same way (non-root, read-only, all capabilities dropped, no privilege
escalation, images pinned by digest)::

    docker-compose.yaml        mcp-proxy + cloudflared (--url http://localhost:8080)
    config/mcp-proxy.yaml      the proxy's config: tunnel_domain, tls, routes, upstream
    data/ca.crt, data/tls.crt  the CA (registered on the tunnel) and the server certificate
    data/tls.key               the server key, 0600
    .env                       TUNNEL_TOKEN=..., 0600 (read by docker compose, never argv)
    .gitignore                 .env and data/

How the proxy reaches the bridge: the bridge listens on the host (loopback by default), and a
container's 127.0.0.1 is its own. So the proxy runs with ``network_mode: host`` (cloudflared
joins its network namespace as the docs have it), listens on ``127.0.0.1:8080`` only, and routes
``<subdomain>`` to ``http://127.0.0.1:<port>`` with ``upstream.allowed_ips`` narrowed to that one
address (the proxy's default allows only RFC 1918 ranges). Inner TLS ends at the proxy, on the
same machine as the bridge.

The key must be readable by the proxy's user inside a read-only bind mount, yet 0600: the proxy
runs as the folder owner's uid (so that a rotation by the same user keeps it readable), or as the
docs' 65532 when this runs as root, which then owns the key.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bridge.errors import TunnelError
from bridge.tunnel.certificates import Bundle

PROXY_UID = 65532
LISTEN = "127.0.0.1:8080"
COMPOSE = "docker-compose.yaml"
PROXY_CONFIG = "config/mcp-proxy.yaml"
ENV_FILE = ".env"
CA_CERT = "data/ca.crt"
SERVER_CERT = "data/tls.crt"
SERVER_KEY = "data/tls.key"
_HARDENED: dict[str, Any] = {
    "restart": "unless-stopped",
    "read_only": True,
    "security_opt": ["no-new-privileges:true"],
    "cap_drop": ["ALL"],
    "stop_grace_period": "30s",  # the proxy's shutdown_timeout
    "logging": {"options": {"max-size": "10m", "max-file": "3"}},
}


@dataclass(frozen=True)
class Stack:
    """What the folder describes: which tunnel, which route, which images, which upstream."""

    folder: Path
    domain: str
    subdomain: str
    upstream_host: str
    upstream_port: int
    proxy_image: str
    cloudflared_image: str

    @property
    def hostname(self) -> str:
        return f"{self.subdomain}.{self.domain}"

    @property
    def upstream(self) -> str:
        return f"http://{self.upstream_host}:{self.upstream_port}"


def proxy_user() -> str:
    """``uid:gid`` the proxy runs as: 65532 (the docs') as root, else this user's own."""
    if os.geteuid() == 0:
        return f"{PROXY_UID}:{PROXY_UID}"
    return f"{os.getuid()}:{os.getgid()}"


def compose_file(stack: Stack) -> dict[str, Any]:
    user = proxy_user()
    return {
        "name": "mcp-tunnel",
        "services": {
            "mcp-proxy": {
                "image": stack.proxy_image,
                # Host networking so the proxy's 127.0.0.1 is the host's, where the bridge is.
                "network_mode": "host",
                "volumes": [
                    "./config/mcp-proxy.yaml:/etc/mcp-gateway/config.yaml:ro",
                    "./data:/data:ro",
                ],
                "user": user,
                **_HARDENED,
            },
            "cloudflared": {
                "image": stack.cloudflared_image,
                # --url is required: no ingress rules are pushed in this flow.
                "command": "tunnel --no-autoupdate run --url http://localhost:8080",
                "env_file": [ENV_FILE],
                "network_mode": "service:mcp-proxy",
                "depends_on": ["mcp-proxy"],
                "user": f"{PROXY_UID}:{PROXY_UID}",
                **_HARDENED,
            },
        },
    }


def proxy_config(stack: Stack) -> dict[str, Any]:
    return {
        "listen_addr": LISTEN,
        "log_level": "info",
        "shutdown_timeout": "30s",
        "tunnel_domain": stack.domain,
        "tls": {"cert_file": "/data/tls.crt", "key_file": "/data/tls.key"},
        "routes": {stack.subdomain: stack.upstream},
        "upstream": {"allowed_ips": [f"{stack.upstream_host}/32"]},
    }


def write_stack(stack: Stack) -> list[Path]:
    """Write the compose file, the proxy config and .gitignore (idempotent); returns them."""
    folder = stack.folder
    header = "# Written by mcp-bridge tunnel up; rerun it rather than editing by hand.\n"
    written = [
        write_file(folder / COMPOSE, header + _yaml(compose_file(stack)), mode=0o644),
        write_file(folder / PROXY_CONFIG, header + _yaml(proxy_config(stack)), mode=0o644),
        write_file(folder / ".gitignore", ".env\ndata/\n", mode=0o644),
    ]
    return written


def write_certificates(folder: Path, bundle: Bundle) -> list[Path]:
    """The CA and server certificates (0644) and the server key (0600) under ``data/``."""
    key = write_file(folder / SERVER_KEY, bundle.server_key_pem, mode=0o600)
    if os.geteuid() == 0:
        os.chown(key, PROXY_UID, PROXY_UID)
    return [
        write_file(folder / CA_CERT, bundle.ca_cert_pem, mode=0o644),
        write_file(folder / SERVER_CERT, bundle.server_cert_pem, mode=0o644),
        key,
    ]


def write_token(folder: Path, token: str) -> Path:
    """``.env`` with the connector token, 0600."""
    if "\n" in token or not token:
        raise TunnelError("the tunnel token the API returned is empty or has a newline")
    return write_file(folder / ENV_FILE, f"TUNNEL_TOKEN={token}\n", mode=0o600)


def read_token(folder: Path) -> str | None:
    try:
        text = (folder / ENV_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "TUNNEL_TOKEN":
            return value.strip()
    return None


def write_file(path: Path, text: str, *, mode: int) -> Path:
    """Replace ``path`` atomically with ``text``, created with ``mode`` (never wider first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def _yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
