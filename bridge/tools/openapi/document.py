"""An OpenAPI document: read from a file or fetched, checked, and its local ``$ref``s followed.

JSON, or YAML when PyYAML is installed. The service's credential goes with a fetch only when the
URL has the origin of ``base_url``, and is dropped from any redirect to another origin.

References are looked up with ``referencing`` (the library under ``jsonschema``), the whole
document being one resource, so ``#/components/...`` pointers (escapes and percent-encoding
included) resolve as JSON Pointer says. Inlining them into a tool's input schema is written here:
an MCP tool's schema must stand alone, and a recursive schema cannot be inlined, so the cycle is
cut where it closes, ``{"description": "(recursive: Name)"}``.

The document is not validated against the OpenAPI meta-schema (``openapi-spec-validator``): that
refuses a whole document for one bad operation, where the bridge serves every operation it can
map and names each one it leaves out (``mcp-bridge check``); it would also bring nine packages
(``jsonschema-path``, ``openapi-schema-validator``, ``pydantic-settings``, ...) for that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from bridge.errors import SecretUnavailableError, ToolLoadError
from bridge.tools.openapi.config import OpenApiToolsConfig, is_url
from bridge.tools.remote_auth import resolve_auth
from bridge.tools.secrets import SecretResolver
from mcpb.urls import origin

if TYPE_CHECKING:
    from referencing._core import Resolved, Resolver  # the types lookup() deals in

_SPEC_TIMEOUT = 10.0
_MAX_DEPTH = 32
_URI = "urn:bridge:openapi-document"


class Unsupported(Exception):
    """A part of the document the bridge cannot turn into a tool (the message says why)."""


class Document:
    """A checked OpenAPI 3 document (``contents``) and its local references."""

    def __init__(self, contents: Mapping[str, Any]) -> None:
        self.contents = contents
        registry: Registry[Any] = Registry().with_resource(_URI, Resource.opaque(contents))
        self._resolver = registry.resolver(base_uri=_URI)

    def resolve(self, node: Any) -> Any:
        """``node``, or what its ``$ref`` (and theirs, in turn) points to."""
        for _ in range(_MAX_DEPTH):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                break
            node = self._lookup(node["$ref"]).contents
        return node

    def inline(self, node: Any) -> Any:
        """``node`` with every ``$ref`` replaced by what it points to; a cycle is cut."""
        return self._inline(node, self._resolver, frozenset())

    def _inline(self, node: Any, resolver: Resolver[Any], seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [self._inline(item, resolver, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in seen or len(seen) >= _MAX_DEPTH:
                return {"description": f"(recursive: {ref.rsplit('/', 1)[-1]})"}
            resolved = self._lookup(ref, resolver)
            return self._inline(resolved.contents, resolved.resolver, seen | {ref})
        out = {key: self._inline(value, resolver, seen) for key, value in node.items()}
        if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]  # OpenAPI 3.0 spelling of a nullable type
        return out

    def _lookup(self, ref: str, resolver: Resolver[Any] | None = None) -> Resolved[Any]:
        if not ref.startswith("#"):
            raise Unsupported(f"it refers to another document ({ref})")
        try:
            return (resolver or self._resolver).lookup(ref)
        except (Unresolvable, LookupError, ValueError, TypeError) as exc:
            raise Unsupported(f"its reference {ref} points nowhere") from exc


def load_document(cfg: OpenApiToolsConfig, secrets: SecretResolver) -> Document:
    """The document ``cfg.spec`` names (blocks: a file read or an HTTP fetch).

    Raises ``ToolLoadError`` saying why it cannot be had or is no OpenAPI 3 document.
    """
    if not is_url(cfg.spec):
        return _checked(_read_file(cfg.spec), cfg.spec)
    headers: dict[str, str] = {}
    if cfg.base_url is not None and origin(cfg.spec) == origin(cfg.base_url):
        try:
            headers, _ = resolve_auth(cfg.headers, cfg.bearer, secrets)
        except SecretUnavailableError as exc:
            raise ToolLoadError(f"cannot fetch {cfg.spec}: {exc}") from exc
    return _checked(_fetch(cfg.spec, headers), cfg.spec)


def _read_file(location: str) -> str:
    try:
        return Path(location).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ToolLoadError(f"cannot read {location}: {reason}") from exc


def _fetch(url: str, credentials: Mapping[str, str]) -> str:
    home = origin(url)

    def keep_credentials_home(request: httpx.Request) -> None:
        if origin(str(request.url)) != home:
            for name in credentials:
                request.headers.pop(name, None)

    try:
        with httpx.Client(
            timeout=_SPEC_TIMEOUT,
            follow_redirects=True,
            event_hooks={"request": [keep_credentials_home]},
        ) as client:
            response = client.get(url, headers=dict(credentials))
            response.raise_for_status()
            return response.text
    except httpx.HTTPStatusError as exc:
        raise ToolLoadError(f"cannot fetch {url}: HTTP {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        raise ToolLoadError(f"cannot fetch {url}: {type(exc).__name__}") from exc


def _checked(text: str, location: str) -> Document:
    contents = _parse(text, location)
    if not isinstance(contents, dict) or not str(contents.get("openapi", "")).startswith("3."):
        raise ToolLoadError(f"{location} is not an OpenAPI 3 document (no 'openapi: 3.x' key)")
    if not isinstance(contents.get("paths"), dict):
        raise ToolLoadError(f"{location} has no 'paths' table")
    return Document(contents)


def _parse(text: str, location: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        try:
            import yaml
        except ImportError:
            raise ToolLoadError(
                f"{location} is not JSON ({exc}); for a YAML document install PyYAML"
            ) from exc
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as yaml_exc:
            raise ToolLoadError(f"{location} is neither JSON nor YAML") from yaml_exc
