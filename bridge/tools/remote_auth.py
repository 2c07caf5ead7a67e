"""How a source reaches a remote server (``[[tools.mcp]] url``, ``[[tools.openapi]]``).

Validated config types shared by those tables (source name, absolute http(s) URL, ``bearer``,
``headers``) and the one place their ``vault:`` credentials are turned into request headers.
A credential is never a literal in the config: ``bearer`` must be ``vault:NAME``, and so must an
``Authorization``, ``Proxy-Authorization`` or ``Cookie`` header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

from bridge.tools.secrets import SecretResolver, resolve_references, vault_reference

_SOURCE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie")


def _source_name(value: str) -> str:
    if not _SOURCE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} must be 1-64 characters from A-Z a-z 0-9 _ . -")
    return value


def _absolute_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an absolute http(s) URL like https://host/path")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; use bearer = 'vault:NAME'")
    return value


def _vault_bearer(value: str) -> str:
    if not vault_reference(value):
        raise ValueError(
            "must name a vault secret, like 'vault:api-key' "
            "(store it with `mcp-vault add NAME --kind secret`)"
        )
    return value


def _headers(value: Mapping[str, str]) -> Mapping[str, str]:
    for name, item in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        reference = vault_reference(item)
        if reference == "":
            raise ValueError(f"{name}: 'vault:' needs a secret name, like 'vault:api-key'")
        if reference is None and name.lower() in _SECRET_HEADERS:
            raise ValueError(f"{name}: a credential must come from the vault ('vault:NAME')")
    return value


SourceName = Annotated[str, AfterValidator(_source_name)]
AbsoluteUrl = Annotated[str, AfterValidator(_absolute_url)]
VaultBearer = Annotated[str, AfterValidator(_vault_bearer)]
Headers = Annotated[Mapping[str, str], AfterValidator(_headers)]


def auth_references(headers: Mapping[str, str], bearer: str | None) -> list[tuple[str, str]]:
    """``(key, secret name)`` for every ``vault:`` value of ``headers`` and ``bearer``."""
    found = [(f"headers.{name}", vault_reference(value)) for name, value in headers.items()]
    if bearer is not None:
        found.append(("bearer", vault_reference(bearer)))
    return [(key, secret) for key, secret in found if secret]


def resolve_auth(
    headers: Mapping[str, str], bearer: str | None, secrets: SecretResolver
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The request headers ``headers`` and ``bearer`` stand for, and the secret values read.

    Blocks (a keyring read): call it from a worker thread. Raises ``SecretUnavailableError``.
    """
    table = dict(headers)
    if bearer is not None:
        table["Authorization"] = bearer
    values, hidden = resolve_references(table, secrets, "headers")
    if bearer is not None:
        values["Authorization"] = f"Bearer {values['Authorization']}"
    return values, hidden
