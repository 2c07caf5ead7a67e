"""The bridge's configuration: TOML in, one typed, frozen, validated ``BridgeConfig`` out.

Precedence, implemented once in :func:`load_config`: flag (``overrides``) > environment variable
(``MCP_BRIDGE_HOST``, ``MCP_BRIDGE_PORT``, ``MCP_BRIDGE_PUBLIC_URL``, ``MCP_BRIDGE_NAME``) >
file > default. Relative paths in the file resolve against the file's directory. Every error is
one :class:`~bridge.errors.ConfigError` line naming the file, the dotted key
(``tools.command[1].argv``) and what is wrong.

This module owns ``[server]``, ``[auth]`` and ``[store]``; each ``[[tools.<kind>]]`` table is its
source kind's own model (``bridge/tools/<kind>/config.py``), assembled here from the registered
kinds (:mod:`bridge.tools.kinds`).
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.errors import ConfigError
from bridge.oauth_config import OAuthConfig
from bridge.tools.durations import Duration, PositiveDuration
from bridge.tools.kinds import ToolTables, source_kinds, tables_model
from bridge.tunnel_config import ConfigPath, TunnelConfig
from mcpb.urls import DEFAULT_PORTS, is_loopback, origin, same_server

ENVIRONMENT = {
    "MCP_BRIDGE_HOST": "server.host",
    "MCP_BRIDGE_PORT": "server.port",
    "MCP_BRIDGE_PUBLIC_URL": "server.public_url",
    "MCP_BRIDGE_NAME": "server.name",
}

_OVERRIDE_ALIASES = {key.rsplit(".", 1)[1]: key for key in ENVIRONMENT.values()}
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
_MAX_SHOWN_VALUE = 60
_NO_KINDS = "none are installed (reinstall mcp-bridge: pip install -e . or make install)"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(_Model):
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    max_output_bytes: int = Field(default=256 * 1024, gt=0)
    tool_timeout: PositiveDuration = 60.0
    shutdown_grace: Duration = 10.0


class ServerConfig(_Model):
    name: str = Field(default="inhouse", min_length=1, max_length=255)
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8765, ge=0, le=65535)
    public_url: str
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    limits: Limits = Limits()
    tls_cert: ConfigPath | None = None
    tls_key: ConfigPath | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_public_url(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("public_url") is None:
            # A bad host or port gets its own error; do not add a second one for the URL.
            host = data.get("host")
            host = host if isinstance(host, str) and host else "127.0.0.1"
            port = data.get("port")
            port = port if str(port).isdigit() else 8765
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            scheme = "https" if data.get("tls_cert") else "http"
            return {**data, "public_url": f"{scheme}://{host}:{port}/mcp"}
        return data

    @model_validator(mode="after")
    def _check_tls(self) -> ServerConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both, or neither")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ValueError(f"{path} does not exist (tls_cert / tls_key)")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid URL: {exc}") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} must be an absolute http(s) URL like https://host/mcp")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials; tokens come from the vault")
        if parts.fragment:
            raise ValueError(f"{value!r} must not have a #fragment")
        return value

    @property
    def effective_allowed_hosts(self) -> tuple[str, ...]:
        """Host headers to accept: loopback on the served port, the public URL's host and port
        (also bare when it is the scheme's default), then ``allowed_hosts``.

        Loopback on another port is refused: that is another server. Only a config whose port
        is not bound yet (``port = 0``) allows loopback on any port; ``serve`` binds first and
        reloads the config with the port it got.
        """
        public = urlsplit(self.public_url)
        scheme, host, port = origin(self.public_url)
        name = f"[{host}]" if ":" in host else host
        served = str(self.port) if self.port else "*"
        hosts = [f"{loopback}:{served}" for loopback in _LOOPBACK_HOSTS]
        hosts += [public.netloc, f"{name}:{port}"]
        if port == DEFAULT_PORTS.get(scheme):
            hosts.append(name)
        return tuple(dict.fromkeys([*hosts, *self.allowed_hosts]))

    @property
    def effective_allowed_origins(self) -> tuple[str, ...]:
        """Origin headers to accept: loopback, the public URL's origin, then ``allowed_origins``."""
        public = urlsplit(self.public_url)
        origins = [*_LOOPBACK_ORIGINS, f"{public.scheme}://{public.netloc}", *self.allowed_origins]
        return tuple(dict.fromkeys(origins))


class AuthConfig(_Model):
    tokens: tuple[str, ...] | None = None
    oauth: OAuthConfig = OAuthConfig()


class StoreConfig(_Model):
    """``[store]``: where the vault store's index is (``MCP_VAULT_DATABASE_URL`` wins over it)."""

    database_url: str | None = None

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL (leave it out for the SQLite index)")
        if parts.password is not None or "password=" in parts.query:
            raise ValueError(
                "must not carry a password: a config file is no place for one; use ~/.pgpass, "
                "PGPASSFILE or PGPASSWORD"
            )
        return value


# The [tools] model has one field per registered source kind, so it is built at import time;
# mypy sees the base class, whose ``tables()`` is how the bridge reads it.
if TYPE_CHECKING:
    ToolsConfig = ToolTables
else:
    ToolsConfig = tables_model(source_kinds())


class BridgeConfig(_Model):
    """The whole validated configuration. ``source`` is the file it came from, if any."""

    server: ServerConfig = Field(default_factory=lambda: ServerConfig.model_validate({}))
    auth: AuthConfig = AuthConfig()
    store: StoreConfig = StoreConfig()
    tools: ToolsConfig = ToolsConfig()
    tunnel: TunnelConfig = TunnelConfig()

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_oauth_issuer(self) -> BridgeConfig:
        scheme, host, _ = origin(self.server.public_url)
        if self.auth.oauth.enabled and scheme != "https" and not is_loopback(host):
            raise ValueError(
                f"[auth.oauth] needs an https public_url (the OAuth issuer), not "
                f"{self.server.public_url}; set server.tls_cert / a tunnel, or a loopback URL "
                "for local tests"
            )
        return self

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def config_dir(self) -> Path:
        """The directory relative paths and Python tool modules are resolved against."""
        return self._source.parent if self._source is not None else Path.cwd()


CERT_WARNING_DAYS = 14


def reachability(
    config: BridgeConfig, *, linked_urls: Sequence[str] = (), now: datetime | None = None
) -> list[str]:
    """Why Anthropic's cloud could not call the bridge at its public URL, one line each: plain
    http to a non-loopback host, a loopback URL that an Anthropic vault credential is linked to
    (``linked_urls``), a TLS certificate of the bridge that expires within 14 days."""
    server = config.server
    scheme, host, _ = origin(server.public_url)
    found = []
    if scheme == "http" and not is_loopback(host):
        found.append(
            f"public_url {server.public_url} is plain http to {host}: no tunnel or proxy of "
            "Anthropic's serves that; use mcp-bridge tunnel up, or an https reverse proxy"
        )
    if is_loopback(host) and any(same_server(url, server.public_url) for url in linked_urls):
        found.append(
            f"public_url {server.public_url} is this machine only, yet an Anthropic vault "
            "credential is linked to it: Anthropic's cloud cannot reach it; run mcp-bridge "
            "tunnel up (it links the credential to the tunnel URL)"
        )
    if server.tls_cert is not None:
        found.extend(_expiring(server.tls_cert, now or datetime.now(UTC)))
    return found


def _expiring(path: Path, now: datetime) -> list[str]:
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        return [f"server.tls_cert {path} cannot be read as a PEM certificate: {exc}"]
    left = certificate.not_valid_after_utc - now
    if left < timedelta(days=CERT_WARNING_DAYS):
        when = certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%MZ")
        state = "expired" if left.total_seconds() <= 0 else f"expires in {left.days} days"
        return [f"server.tls_cert {path} {state} ({when}); renew it"]
    return []


def load_config(
    path: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> BridgeConfig:
    """Read, layer and validate the config at ``path``.

    ``overrides`` holds flag values by dotted key (``"server.port"``; the bare ``host``, ``port``,
    ``public_url`` and ``name`` mean the ``server`` keys); ``None`` values are ignored so a CLI
    can pass unset flags straight through. ``environ`` defaults to ``os.environ``.
    """
    path = Path(path).absolute()
    data = _read_toml(path)
    origins: dict[str, str] = {}
    environ = os.environ if environ is None else environ
    for variable, key in ENVIRONMENT.items():
        if variable in environ:
            _set_dotted(data, key, environ[variable], path)
            origins[key] = f"from {variable}"
    for raw_key, value in (overrides or {}).items():
        if value is None:
            continue
        key = _OVERRIDE_ALIASES.get(raw_key, raw_key)
        _set_dotted(data, key, value, path)
        origins[key] = "from the command line"
    try:
        config = BridgeConfig.model_validate(data, context={"config_dir": path.parent})
    except ValidationError as exc:
        raise _config_error(exc, path, origins) from None
    config._source = path
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "no such file; pass --config FILE or set MCP_BRIDGE_CONFIG", path=path
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the file: {reason}", path=path) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None


def _set_dotted(data: dict[str, Any], key: str, value: Any, path: Path) -> None:
    *tables, leaf = key.split(".")
    node = data
    for table in tables:
        child = node.setdefault(table, {})
        if not isinstance(child, dict):
            raise ConfigError(f"must be a table to set {key}", path=path, key=table)
        node = child
    node[leaf] = value


def _config_error(exc: ValidationError, path: Path, origins: Mapping[str, str]) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    key = _dotted(loc)
    message = _describe(first, loc)
    if key in origins:
        message += f" ({origins[key]})"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ConfigError(message, path=path, key=key or None)


def _describe(error: Any, loc: tuple[int | str, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent is not None else ""
        if isinstance(parent, type) and issubclass(parent, ToolTables):
            return f"unknown tool source kind; known kinds: {allowed or _NO_KINDS}"
        return f"unknown key; allowed keys here: {allowed}" if allowed else "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("tuple_type", "list_type") and loc[:1] == ("tools",) and len(loc) == 2:
        return f"{message}; write each entry as [[tools.{loc[1]}]]"
    shown = error.get("input")
    if (
        kind not in ("value_error", "assertion_error")
        and isinstance(shown, str | int | float | bool)
        and "env" not in loc
        and len(repr(shown)) <= _MAX_SHOWN_VALUE
    ):
        message += f", got {shown!r}"
    return message


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    current: Any = BridgeConfig
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            current = _inner_model(current)
    return _inner_model(current)


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (model := _inner_model(arg)) is not None:
            return model
    return None
