"""From an OpenAPI document to operations: which are selected, and each one's input schema.

Each operation that ``include``/``exclude`` select (globs over operationIds and tags) becomes a
tool named by its operationId. Its path, query and header parameters, and a request body as the
``body`` argument, form the input schema, references inlined; a parameter that carries the
service's own credential (``bearer``, ``headers``) is left out. An operation that cannot be
mapped is left out with the reason, for ``mcp-bridge check``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from bridge.errors import ToolLoadError
from bridge.tools.curation import tool_name_problem
from bridge.tools.openapi.config import OpenApiToolsConfig, is_url
from bridge.tools.openapi.document import Document, Unsupported

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9._-]+")


BodyKind = Literal["json", "text", "form"]


@dataclass(frozen=True)
class Parameter:
    name: str
    where: Literal["path", "query", "header"]


@dataclass(frozen=True)
class Operation:
    """One HTTP operation, ready to be called."""

    id: str
    method: str
    path: str
    tags: tuple[str, ...]
    description: str
    title: str | None
    schema: dict[str, Any]
    parameters: tuple[Parameter, ...]
    body: BodyKind | None


@dataclass(frozen=True)
class Catalog:
    """What one OpenAPI document yields for a source."""

    base_url: str
    operations: list[Operation]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    every: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)


def build_catalog(cfg: OpenApiToolsConfig, document: Document) -> Catalog:
    """The operations ``cfg`` selects from ``document``, and what was left out and why."""
    base_url = _base_url(cfg, document)
    operations, skipped, every = _operations(document, cfg)
    return Catalog(base_url, operations, skipped, every)


def _base_url(cfg: OpenApiToolsConfig, document: Document) -> str:
    if cfg.base_url is not None:
        return cfg.base_url
    servers = document.contents.get("servers") or []
    url = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
    if isinstance(url, str) and url:
        if is_url(url):
            return url
        if is_url(cfg.spec):
            return urljoin(cfg.spec, url)
    raise ToolLoadError(
        "the document names no absolute server URL; set base_url (the service's root URL)"
    )


def _operations(
    document: Document, cfg: OpenApiToolsConfig
) -> tuple[list[Operation], list[tuple[str, str]], list[tuple[str, tuple[str, ...]]]]:
    operations: list[Operation] = []
    skipped: list[tuple[str, str]] = []
    every: list[tuple[str, tuple[str, ...]]] = []
    for path, raw_item in document.contents["paths"].items():
        try:
            item = document.resolve(raw_item)
        except Unsupported as exc:
            skipped.append(("", f"path {path!r} is left out: {exc}"))
            continue
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op_id = _tool_name(op.get("operationId") or f"{method}_{path}")
            tags = tuple(str(tag) for tag in op.get("tags") or ())
            every.append((op_id, tags))
            if not _selected(cfg, op_id, tags):
                continue
            if any(other.id == op_id for other in operations):
                skipped.append(("", f"two operations are named {op_id!r}; the second is left out"))
                continue
            try:
                operations.append(_operation(document, cfg, op_id, method, path, op, shared, tags))
            except Unsupported as exc:
                skipped.append(("", f"operation {op_id!r} is left out: {exc}; exclude it"))
    return operations, skipped, every


def _operation(
    document: Document,
    cfg: OpenApiToolsConfig,
    op_id: str,
    method: str,
    path: str,
    op: Mapping[str, Any],
    shared: list[Any],
    tags: tuple[str, ...],
) -> Operation:
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*shared, *(op.get("parameters") or [])]:
        param = document.resolve(raw)
        if isinstance(param, dict) and "name" in param and "in" in param:
            merged[(str(param["in"]), str(param["name"]))] = param
    credential_headers = {name.lower() for name in cfg.headers}
    if cfg.bearer is not None:
        credential_headers.add("authorization")
    properties: dict[str, Any] = {}
    required: list[str] = []
    parameters: list[Parameter] = []
    for (where, name), param in merged.items():
        if where not in ("path", "query", "header"):
            continue
        if where == "header" and name.lower() in credential_headers:
            continue
        if name in properties or name == "body":
            raise Unsupported(f"two parameters are named {name!r}")
        schema = document.inline(_param_schema(param))
        if param.get("description"):
            schema = {**schema, "description": str(param["description"])}
        properties[name] = schema
        parameters.append(Parameter(name, where))  # type: ignore[arg-type]
        if where == "path" or param.get("required"):
            required.append(name)
    body = None
    request_body = document.resolve(op.get("requestBody"))
    if isinstance(request_body, dict):
        body, body_schema = _body_schema(document, request_body)
        if request_body.get("description"):
            body_schema = {**body_schema, "description": str(request_body["description"])}
        properties["body"] = body_schema
        if request_body.get("required"):
            required.append("body")
    schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise Unsupported(
            f"its parameters do not form a valid JSON schema ({exc.message})"
        ) from exc
    summary = str(op.get("summary") or "").strip()
    text = "\n\n".join(part for part in (summary, str(op.get("description") or "").strip()) if part)
    description = f"{text}\n\n{method.upper()} {path}" if text else f"{method.upper()} {path}"
    return Operation(
        id=op_id,
        method=method,
        path=path,
        tags=tags,
        description=description,
        title=summary or None,
        schema=schema,
        parameters=tuple(parameters),
        body=body,
    )


def _param_schema(param: Mapping[str, Any]) -> Any:
    if "schema" in param:
        return param["schema"]
    for media in (param.get("content") or {}).values():
        if isinstance(media, dict) and "schema" in media:
            return media["schema"]
    return {}


def _body_schema(
    document: Document, request_body: Mapping[str, Any]
) -> tuple[BodyKind, dict[str, Any]]:
    content = request_body.get("content") or {}
    for media_type, media in content.items():
        kind = _body_kind(str(media_type))
        if kind is not None:
            schema = media.get("schema", {}) if isinstance(media, dict) else {}
            if kind == "text":
                schema = {"type": "string"}
            return kind, document.inline(schema)
    raise Unsupported(f"its request body types ({', '.join(content) or 'none'}) are not supported")


def _body_kind(media_type: str) -> BodyKind | None:
    media_type = media_type.split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type == "application/x-www-form-urlencoded":
        return "form"
    if media_type.startswith("text/"):
        return "text"
    return None


def _tool_name(raw: str) -> str:
    name = _NOT_A_NAME.sub("_", str(raw)).strip("_")[:128]
    return name if tool_name_problem(name) is None else "operation"


def selects(pattern: str, op_id: str, tags: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for value in (op_id, *tags))


def _selected(cfg: OpenApiToolsConfig, op_id: str, tags: tuple[str, ...]) -> bool:
    if cfg.include is not None and not any(selects(p, op_id, tags) for p in cfg.include):
        return False
    return not any(selects(p, op_id, tags) for p in cfg.exclude)
