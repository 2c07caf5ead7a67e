"""Checking a deployment folder by reading it, where the images themselves cannot run.

What the connector and the proxy would refuse at start-up, or what would make Anthropic refuse
the inner TLS handshake, found from the files alone: the compose file and the proxy config parse
and have the keys the docs give them (routes a map, upstreams ``scheme://host:port`` with no
path, the route's address allowed), the bind-mounted paths exist, the token file and the key are
0600, the key matches the certificate, and the certificate chains to the CA and covers the
route's hostname.
"""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bridge.errors import TunnelError
from bridge.tunnel import deployment
from bridge.tunnel.certificates import verify_server

PROXY_KEYS = {
    "listen_addr",
    "log_level",
    "shutdown_timeout",
    "tunnel_domain",
    "tls",
    "routes",
    "upstream",
}
_PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")


def inspect(folder: Path, hostname: str, *, at: datetime | None = None) -> list[str]:
    """Every problem of the folder for traffic to ``hostname``; empty when it is ready."""
    problems: list[str] = []
    compose = _load(folder / deployment.COMPOSE, problems)
    proxy = _load(folder / deployment.PROXY_CONFIG, problems)
    if compose is not None:
        problems += _compose(folder, compose)
    if proxy is not None:
        problems += _proxy(proxy, hostname)
    problems += _files(folder, hostname, at or datetime.now(UTC))
    return problems


def _load(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path} is missing; run mcp-bridge tunnel up")
        return None
    except yaml.YAMLError as exc:
        problems.append(f"{path} is not valid YAML: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path} must hold a mapping")
        return None
    return data


def _compose(folder: Path, compose: dict[str, Any]) -> list[str]:
    services = compose.get("services") or {}
    problems = [
        f"{deployment.COMPOSE}: no {name} service"
        for name in ("mcp-proxy", "cloudflared")
        if name not in services
    ]
    for name, service in services.items():
        image = str(service.get("image", ""))
        if not _PINNED.search(image):
            problems.append(f"{deployment.COMPOSE}: {name} image {image!r} is not pinned by digest")
        user = str(service.get("user", "0"))
        if user.split(":")[0] in ("0", "root"):
            problems.append(f"{deployment.COMPOSE}: {name} must not run as root")
        if service.get("read_only") is not True or service.get("cap_drop") != ["ALL"]:
            problems.append(f"{deployment.COMPOSE}: {name} must be read_only with cap_drop ALL")
        if "no-new-privileges:true" not in (service.get("security_opt") or []):
            problems.append(f"{deployment.COMPOSE}: {name} lacks no-new-privileges")
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if not (folder / source).exists():
                problems.append(f"{deployment.COMPOSE}: {name} mounts {source}, which is missing")
    connector = services.get("cloudflared") or {}
    if connector.get("network_mode") != "service:mcp-proxy":
        problems.append(f"{deployment.COMPOSE}: cloudflared must share the proxy's network")
    if "--url http://localhost:8080" not in str(connector.get("command", "")):
        problems.append(f"{deployment.COMPOSE}: cloudflared needs --url http://localhost:8080")
    for env_file in connector.get("env_file") or []:
        path = folder / env_file
        if not path.is_file():
            problems.append(f"{env_file} is missing: run mcp-bridge tunnel up")
        elif stat.S_IMODE(path.stat().st_mode) != 0o600:
            problems.append(f"{env_file} must be 0600 (it holds the tunnel token)")
        elif not deployment.read_token(folder):
            problems.append(f"{env_file} has no TUNNEL_TOKEN")
    return problems


def _proxy(proxy: dict[str, Any], hostname: str) -> list[str]:
    where = deployment.PROXY_CONFIG
    problems = [f"{where}: unknown key {key!r}" for key in proxy if key not in PROXY_KEYS]
    domain = str(proxy.get("tunnel_domain") or "")
    routes = proxy.get("routes")
    if not isinstance(routes, dict):
        return [*problems, f"{where}: routes must be a map of subdomain to upstream URL"]
    if not domain or not hostname.endswith("." + domain):
        problems.append(f"{where}: tunnel_domain {domain!r} does not serve {hostname}")
        return problems
    subdomain = hostname.removesuffix("." + domain)
    upstream = routes.get(subdomain) or routes.get(hostname)
    if upstream is None:
        return [*problems, f"{where}: no route for {subdomain}"]
    parts = urlsplit(str(upstream))
    if parts.scheme not in ("http", "https") or parts.port is None or parts.path not in ("",):
        problems.append(f"{where}: upstream {upstream!r} must be exactly scheme://host:port")
    allowed = ((proxy.get("upstream") or {}).get("allowed_ips")) or []
    if parts.hostname and not _allowed(parts.hostname, allowed):
        problems.append(f"{where}: upstream.allowed_ips does not allow {parts.hostname}")
    tls = proxy.get("tls") or {}
    if tls.get("cert_file") != "/data/tls.crt" or tls.get("key_file") != "/data/tls.key":
        problems.append(f"{where}: tls must name /data/tls.crt and /data/tls.key")
    return problems


def _allowed(host: str, allowed: list[str]) -> bool:
    import ipaddress

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if not allowed:
        return address.is_private and not address.is_loopback
    return any(address in ipaddress.ip_network(str(cidr), strict=False) for cidr in allowed)


def _files(folder: Path, hostname: str, at: datetime) -> list[str]:
    try:
        ca = x509.load_pem_x509_certificate((folder / deployment.CA_CERT).read_bytes())
        server = x509.load_pem_x509_certificate((folder / deployment.SERVER_CERT).read_bytes())
        key_path = folder / deployment.SERVER_KEY
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        return [f"the certificates under {folder / 'data'} cannot be read: {exc}"]
    problems = []
    if stat.S_IMODE(key_path.stat().st_mode) != 0o600:
        problems.append(f"{deployment.SERVER_KEY} must be 0600")
    der = serialization.Encoding.DER
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(der, public) != server.public_key().public_bytes(der, public):
        problems.append(f"{deployment.SERVER_KEY} does not belong to {deployment.SERVER_CERT}")
    try:
        verify_server(server, ca, hostname, at=at)
    except TunnelError as exc:
        problems.append(str(exc))
    return problems
