"""The API's value formats: ids, timestamps and the platform's MCP URL match key."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

_BASE62 = string.digits + string.ascii_letters
_DEFAULT_PORTS = {"http": 80, "https": 443}


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(24))


def now() -> datetime:
    return datetime.now(UTC)


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def in_range(moment: datetime, bounds: dict[str, datetime]) -> bool:
    checks = {
        "gt": lambda bound: moment > bound,
        "gte": lambda bound: moment >= bound,
        "lt": lambda bound: moment < bound,
        "lte": lambda bound: moment <= bound,
    }
    return all(checks[op](bound) for op, bound in bounds.items())


def normalize_mcp_url(url: str) -> str:
    """The platform's credential match key: lower-case scheme and host, default port and
    trailing slashes dropped, path (and query) kept."""
    # Kept apart from mcpb.urls on purpose: the fake plays the platform, so a bug in the
    # project's own normalisation must show up as a mismatch, not be shared by construction.
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
