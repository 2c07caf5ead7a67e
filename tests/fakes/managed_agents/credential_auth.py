"""A credential's ``auth``: what each type takes, what is stored apart as its secret, the
rules of a rotation (type and key fields fixed), and the key that must be unique in a vault."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from tests.fakes.managed_agents.bodies import NonEmpty, Strict
from tests.fakes.managed_agents.errors import bad
from tests.fakes.managed_agents.values import is_http_url, normalize_mcp_url, now, ts

_IMMUTABLE_AUTH_FIELDS = {
    "static_bearer": ("mcp_server_url",),
    "mcp_oauth": ("mcp_server_url",),
    "environment_variable": ("secret_name",),
}
_IMMUTABLE_REFRESH_FIELDS = ("client_id", "token_endpoint")


class _StaticBearerCreate(Strict):
    type: Literal["static_bearer"]
    mcp_server_url: Annotated[str, StringConstraints(min_length=1, max_length=2047)]
    token: NonEmpty


class _TokenAuthNoneIn(Strict):
    type: Literal["none"]


class _TokenAuthSecretIn(Strict):
    type: Literal["client_secret_basic", "client_secret_post"]
    client_secret: NonEmpty


class _OAuthRefreshCreate(Strict):
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    token_endpoint: NonEmpty
    token_endpoint_auth: _TokenAuthNoneIn | _TokenAuthSecretIn
    resource: str | None = None
    scope: str | None = None


class _OAuthCreate(Strict):
    type: Literal["mcp_oauth"]
    mcp_server_url: Annotated[str, StringConstraints(min_length=1, max_length=2047)]
    access_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    expires_at: datetime | None = None
    refresh: _OAuthRefreshCreate | None = None


class _NetworkUnrestrictedIn(Strict):
    type: Literal["unrestricted"]


class _NetworkLimitedIn(Strict):
    type: Literal["limited"]
    allowed_hosts: Annotated[list[str], Field(min_length=1, max_length=16)]


_CredNetworkIn = Annotated[_NetworkUnrestrictedIn | _NetworkLimitedIn, Field(discriminator="type")]


class _InjectionIn(Strict):
    header: bool = False
    body: bool = False


class _EnvVarCreate(Strict):
    type: Literal["environment_variable"]
    secret_name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    secret_value: NonEmpty
    networking: _CredNetworkIn
    injection_location: _InjectionIn | None = None


class _StaticBearerUpdate(Strict):
    type: Literal["static_bearer"]
    token: NonEmpty | None = None


class _TokenAuthSecretUpdate(Strict):
    type: Literal["client_secret_basic", "client_secret_post"]
    client_secret: NonEmpty | None = None


class _OAuthRefreshUpdate(Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)] | None = None
    scope: str | None = None
    token_endpoint_auth: _TokenAuthSecretUpdate | None = None


class _OAuthUpdate(Strict):
    type: Literal["mcp_oauth"]
    access_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)] | None = None
    expires_at: datetime | None = None
    refresh: _OAuthRefreshUpdate | None = None


class _InjectionUpdate(Strict):
    header: bool | None = None
    body: bool | None = None


class _EnvVarUpdate(Strict):
    type: Literal["environment_variable"]
    secret_value: NonEmpty | None = None
    networking: _CredNetworkIn | None = None
    injection_location: _InjectionUpdate | None = None


AuthCreate = Annotated[
    _StaticBearerCreate | _OAuthCreate | _EnvVarCreate, Field(discriminator="type")
]
AuthUpdate = Annotated[
    _StaticBearerUpdate | _OAuthUpdate | _EnvVarUpdate, Field(discriminator="type")
]


_HOSTNAME = re.compile(r"^[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*$")
_WILDCARD = re.compile(r"^\*\.[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")


def _check_hosts(hosts: list[str]) -> None:
    for host in hosts:
        if not (_HOSTNAME.match(host) or _WILDCARD.match(host)):
            raise bad(
                f"allowed_hosts entry {host!r} must be a bare hostname, an IPv4 address or "
                "a *.domain wildcard (no scheme, port or path)"
            )


def credential_key(auth: dict[str, Any]) -> str:
    if auth["type"] == "environment_variable":
        return "env:" + auth["secret_name"]
    return "url:" + normalize_mcp_url(auth["mcp_server_url"])


def credential_auth(
    auth: _StaticBearerCreate | _OAuthCreate | _EnvVarCreate,
) -> tuple[dict[str, Any], dict[str, str]]:
    if isinstance(auth, _StaticBearerCreate):
        if not is_http_url(auth.mcp_server_url):
            raise bad(f"auth.mcp_server_url {auth.mcp_server_url!r} is not an http(s) URL")
        return {"type": "static_bearer", "mcp_server_url": auth.mcp_server_url}, {
            "secret": auth.token
        }
    if isinstance(auth, _OAuthCreate):
        if not is_http_url(auth.mcp_server_url):
            raise bad(f"auth.mcp_server_url {auth.mcp_server_url!r} is not an http(s) URL")
        resolved: dict[str, Any] = {"type": "mcp_oauth", "mcp_server_url": auth.mcp_server_url}
        secret = {"secret": auth.access_token}
        if auth.expires_at is not None:
            resolved["expires_at"] = ts(_future(auth.expires_at))
        if auth.refresh is not None:
            refresh = auth.refresh
            resolved["refresh"] = {
                "client_id": refresh.client_id,
                "token_endpoint": refresh.token_endpoint,
                "token_endpoint_auth": {"type": refresh.token_endpoint_auth.type},
                "scope": refresh.scope,
                "resource": refresh.resource,
            }
            secret["refresh_token"] = refresh.refresh_token
            if isinstance(refresh.token_endpoint_auth, _TokenAuthSecretIn):
                secret["client_secret"] = refresh.token_endpoint_auth.client_secret
        return resolved, secret
    if isinstance(auth.networking, _NetworkLimitedIn):
        _check_hosts(auth.networking.allowed_hosts)
    location = auth.injection_location or _InjectionIn(header=True, body=True)
    if not (location.header or location.body):
        raise bad("auth.injection_location must enable header or body")
    return {
        "type": "environment_variable",
        "secret_name": auth.secret_name,
        "networking": auth.networking.model_dump(),
        "injection_location": {"header": location.header, "body": location.body},
    }, {"secret": auth.secret_value}


def _future(moment: datetime) -> datetime:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= now():
        raise bad("auth.expires_at must be in the future")
    return moment


def check_auth_update(current: dict[str, Any], raw: dict[str, Any]) -> None:
    auth = raw.get("auth")
    if not isinstance(auth, dict):
        return
    kind = current["auth"]["type"]
    if "type" in auth and auth["type"] != kind:
        raise bad(f"auth.type cannot change (the credential is {kind}, not {auth['type']!r})")
    for name in _IMMUTABLE_AUTH_FIELDS[kind]:
        if name in auth:
            raise bad(f"auth.{name} is immutable; archive this credential and create a new one")
    refresh = auth.get("refresh")
    if kind == "mcp_oauth" and isinstance(refresh, dict):
        for name in _IMMUTABLE_REFRESH_FIELDS:
            if name in refresh:
                raise bad(f"auth.refresh.{name} is immutable")


def update_auth(
    current: dict[str, Any],
    auth: _StaticBearerUpdate | _OAuthUpdate | _EnvVarUpdate,
    secret: dict[str, str],
) -> dict[str, Any]:
    updated = copy.deepcopy(current)
    if isinstance(auth, _StaticBearerUpdate):
        if auth.token is not None:
            secret["secret"] = auth.token
    elif isinstance(auth, _OAuthUpdate):
        if auth.access_token is not None:
            secret["secret"] = auth.access_token
        if auth.expires_at is not None:
            updated["expires_at"] = ts(_future(auth.expires_at))
        if auth.refresh is not None:
            refresh = updated.get("refresh")
            if refresh is None:
                raise bad("auth.refresh: this credential has no refresh configuration")
            given = auth.refresh
            if given.refresh_token is not None:
                secret["refresh_token"] = given.refresh_token
            if "scope" in given.model_fields_set:
                refresh["scope"] = given.scope or None
            if given.token_endpoint_auth is not None:
                if refresh["token_endpoint_auth"]["type"] == "none":
                    raise bad(
                        "auth.refresh.token_endpoint_auth: the credential uses no client secret"
                    )
                if given.token_endpoint_auth.client_secret is not None:
                    secret["client_secret"] = given.token_endpoint_auth.client_secret
    else:
        if auth.secret_value is not None:
            secret["secret"] = auth.secret_value
        if auth.networking is not None:
            if isinstance(auth.networking, _NetworkLimitedIn):
                _check_hosts(auth.networking.allowed_hosts)
            updated["networking"] = auth.networking.model_dump()
        if auth.injection_location is not None:
            for name in ("header", "body"):
                value = getattr(auth.injection_location, name)
                if value is not None:
                    updated["injection_location"][name] = value
            if not any(updated["injection_location"].values()):
                raise bad("auth.injection_location must enable header or body")
    return updated
