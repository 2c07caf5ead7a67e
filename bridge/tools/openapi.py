"""Internal HTTP services described by OpenAPI as tools: ``[[tools.openapi]]``.

Each operation that ``include``/``exclude`` select (globs over operationIds and tags) becomes a
tool named by its operationId. Its path, query and header parameters, and a request body as the
``body`` argument, form the input schema (local ``$ref`` values inlined). A call sends one
request with httpx (timeouts, a bounded connection pool, redirects not followed) carrying only
the service's own credential from the vault (``bearer`` or ``headers``, read at call time):
nothing of the caller's request is forwarded. The response body, JSON or text, read up to the
output cap and with the credential values redacted, is the result; a 3xx/4xx/5xx answer is an
``isError`` result with the status and a short body. GET and HEAD operations are read-only.

The source is healthy while its document is loaded and the service answers: a bare ``HEAD`` of
``base_url`` (no credential, any status will do) is sent at start and then every second while
the service is down; a call that cannot connect marks it down, one that gets an answer marks it
up.

The document is read when the config is loaded, from a file or an http(s) URL; JSON, or YAML
when PyYAML is installed. A file that is missing or invalid is a config error. A URL is the
service's business: when it cannot be fetched (or what it serves is no usable document) the
source starts with no tools and unhealthy, fetches again in the background (``retry_delay``,
doubling up to ``retry_delay_max``), and once the document loads its tools appear and listeners
registered with ``on_tools_changed`` are told; names other sources already serve by then are
left out (and logged). The service's credential goes with the fetch only when the URL has the
origin of ``base_url``, and is dropped from any redirect to another origin.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urljoin, urlsplit

import anyio
import anyio.abc
import anyio.to_thread
import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from bridge.errors import SecretUnavailableError, ToolLoadError
from bridge.tools.curation import Curation, curate, curation_problems, tool_name_problem
from bridge.tools.registry import CallContext, Registry, ToolSpec
from bridge.tools.remote_auth import (
    AbsoluteUrl,
    Headers,
    SourceName,
    VaultBearer,
    auth_references,
    resolve_auth,
)
from bridge.tools.secrets import SecretResolver, redact
from mcpb.durations import to_seconds

log = logging.getLogger("bridge.openapi")

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_READ_ONLY = ("get", "head")
_IDEMPOTENT = ("get", "head", "put", "delete", "options", "trace")
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SPEC_TIMEOUT = 10.0
_DEFAULT_TIMEOUT = 30.0
_CONNECT_TIMEOUT = 5.0
_RECHECK = 1.0
_SHORT_BODY = 500
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_DEPTH = 32


Seconds = Annotated[float, BeforeValidator(to_seconds), Field(gt=0)]


def _is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


class OpenApiToolsConfig(Curation):
    """``[[tools.openapi]]``: the operations of an HTTP service, from its OpenAPI document."""

    name: SourceName
    spec: str
    base_url: AbsoluteUrl | None = None
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    bearer: VaultBearer | None = None
    headers: Headers = {}
    timeout: Seconds | None = None
    max_connections: int = Field(default=10, ge=1, le=1000)
    retry_delay: Seconds = 1.0
    retry_delay_max: Seconds = 60.0

    @field_validator("spec")
    @classmethod
    def _resolve_spec(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            raise ValueError("give a file path or an http(s) URL of the OpenAPI document")
        if _is_url(value):
            return value
        path = Path(value).expanduser()
        base = (info.context or {}).get("config_dir")
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        return str(path)

    @model_validator(mode="after")
    def _check_retry(self) -> OpenApiToolsConfig:
        if self.retry_delay_max < self.retry_delay:
            raise ValueError("retry_delay_max must be at least retry_delay")
        return self


BodyKind = Literal["json", "text", "form"]


@dataclass(frozen=True)
class _Parameter:
    name: str
    where: Literal["path", "query", "header"]


@dataclass(frozen=True)
class _Operation:
    """One HTTP operation, ready to be called."""

    id: str
    method: str
    path: str
    tags: tuple[str, ...]
    description: str
    title: str | None
    schema: dict[str, Any]
    parameters: tuple[_Parameter, ...]
    body: BodyKind | None


@dataclass(frozen=True)
class _Catalog:
    """What one OpenAPI document yields for a source."""

    base_url: str
    operations: list[_Operation]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    every: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)


class OpenApiSource:
    """The selected operations of one service; the HTTP client lives from ``start`` to ``stop``.

    Built without a document (``missing`` says why) when its URL could not be loaded; ``start``
    then keeps fetching it in the background.
    """

    def __init__(
        self,
        cfg: OpenApiToolsConfig,
        secrets: SecretResolver,
        document: Mapping[str, Any] | None,
        *,
        missing: str | None = None,
    ) -> None:
        self.name = f"openapi:{cfg.name}"
        self.cfg = cfg
        self.base_url: str | None = None
        self.operations: list[_Operation] = []
        self._secrets = secrets
        self._skipped: list[tuple[str, str]] = []
        self._every: list[tuple[str, tuple[str, ...]]] = []
        self._specs: list[ToolSpec] = []
        self._missing = missing if document is None else None
        self._client: httpx.AsyncClient | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._reachable = True
        self._registry: Registry | None = None
        self._listeners: list[Callable[[], Awaitable[None]]] = []
        if document is not None:
            self._use(_catalog(cfg, document))

    async def start(self) -> None:
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        if self._missing is None:
            await self._connect(group)
            return
        log.warning(
            "openapi %s: %s; none of its tools are served until it loads, retrying",
            self.cfg.name,
            self._missing,
        )
        group.start_soon(self._load_later, group)

    async def stop(self) -> None:
        group, self._group = self._group, None
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def tools(self) -> list[ToolSpec]:
        return list(self._specs)

    def healthy(self) -> bool:
        return self._missing is None and self._reachable

    @property
    def error(self) -> str | None:
        """Why the source is not healthy, or ``None`` while it is."""
        if self._missing is not None:
            return self._missing
        return None if self._reachable else f"cannot reach {self.base_url}"

    def on_tools_changed(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Call ``listener`` once a document that could not be loaded at start has loaded."""
        self._listeners.append(listener)

    def joined(self, registry: Registry) -> None:
        """Told by ``registry`` on joining it: tools loaded later leave out names it serves."""
        self._registry = registry

    def problems(self) -> list[tuple[str, str]]:
        """``(key, what is wrong)`` with the document, selection and curation of this source."""
        if self._missing is not None:
            return [("spec", self._missing)]
        found = list(self._skipped)
        for key in ("include", "exclude"):
            for pattern in getattr(self.cfg, key) or ():
                if not any(_selects(pattern, op_id, tags) for op_id, tags in self._every):
                    found.append((key, f"{pattern!r} matches no operationId or tag"))
        found += curation_problems([op.id for op in self.operations], self.cfg)
        if not self._specs:
            found.append(("", "include/exclude/allow/deny leave no operation of this service"))
        return found

    def _use(self, catalog: _Catalog, taken: Iterable[str] = ()) -> None:
        taken = set(taken)
        specs = curate([self._spec(op) for op in catalog.operations], self.cfg)
        for spec in specs:
            if spec.name in taken:
                log.error(
                    "openapi %s: tool %r is not served, another source already has that name; "
                    "use prefix or rename",
                    self.cfg.name,
                    spec.name,
                )
        self.base_url = catalog.base_url
        self.operations = catalog.operations
        self._skipped = catalog.skipped
        self._every = catalog.every
        self._specs = [spec for spec in specs if spec.name not in taken]

    async def _load_later(self, group: anyio.abc.TaskGroup) -> None:
        delay = self.cfg.retry_delay
        while True:
            await anyio.sleep(delay)
            delay = min(delay * 2, self.cfg.retry_delay_max)
            try:
                document = await anyio.to_thread.run_sync(
                    _fetch_document, self.cfg, self._secrets, abandon_on_cancel=True
                )
                catalog = _catalog(self.cfg, document)
            except ToolLoadError as exc:
                if exc.detail != self._missing:
                    log.warning("openapi %s: %s; retrying", self.cfg.name, exc.detail)
                self._missing = exc.detail
                continue
            break
        self.base_url = catalog.base_url
        await self._connect(group)
        others = self._registry.sources if self._registry is not None else []
        self._use(catalog, {spec.name for s in others if s is not self for spec in s.tools()})
        self._missing = None
        log.info("openapi %s: document loaded, %d tools", self.cfg.name, len(self._specs))
        for listener in list(self._listeners):
            try:
                await listener()
            except Exception:
                log.exception("openapi %s: a tools-changed listener failed", self.cfg.name)

    async def _connect(self, group: anyio.abc.TaskGroup) -> None:
        assert self.base_url is not None
        limits = httpx.Limits(
            max_connections=self.cfg.max_connections,
            max_keepalive_connections=self.cfg.max_connections,
        )
        timeout = httpx.Timeout(self.cfg.timeout or _DEFAULT_TIMEOUT, connect=_CONNECT_TIMEOUT)
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, limits=limits, follow_redirects=False
        )
        await self._knock(self._client)
        group.start_soon(self._recheck, self._client)

    async def _recheck(self, client: httpx.AsyncClient) -> None:
        # Without this, a red /readyz could stay red for good: a load balancer that honours it
        # sends no more calls, and only a call would turn it green.
        while True:
            await anyio.sleep(_RECHECK)
            if not self._reachable:
                await self._knock(client)

    async def _knock(self, client: httpx.AsyncClient) -> None:
        try:
            await client.head("", timeout=_CONNECT_TIMEOUT)
        except httpx.HTTPError as exc:
            self._down(exc)
            return
        if not self._reachable:
            log.info("openapi %s: %s answers again", self.cfg.name, self.base_url)
        self._reachable = True

    def _down(self, exc: httpx.HTTPError) -> None:
        if self._reachable:
            log.warning(
                "openapi %s: cannot reach %s (%s)", self.cfg.name, self.base_url, type(exc).__name__
            )
        self._reachable = False

    def _spec(self, op: _Operation) -> ToolSpec:
        async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
            return await self._call(op, validator, arguments, context)

        validator = Draft202012Validator(op.schema)
        return ToolSpec(
            name=op.id,
            description=op.description,
            input_schema=op.schema,
            call=call,
            source=self.name,
            annotations=ToolAnnotations(
                title=op.title,
                read_only_hint=op.method in _READ_ONLY,
                idempotent_hint=op.method in _IDEMPOTENT,
            ),
            timeout=self.cfg.timeout,
            title=op.title,
        )

    async def _call(
        self,
        op: _Operation,
        validator: Draft202012Validator,
        arguments: dict[str, Any],
        context: CallContext,
    ) -> CallToolResult:
        problems = [
            f"{'.'.join(map(str, e.absolute_path)) or '(arguments)'}: {e.message}"
            for e in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        ]
        if problems:
            raise ToolError(
                f"Error executing tool {op.id}: invalid arguments: {'; '.join(problems)}"
            )
        client = self._client
        if client is None:
            raise ToolError(
                f"Error executing tool {op.id}: the service {self.cfg.name!r} is not started"
            )
        credentials, hidden = await anyio.to_thread.run_sync(self._credentials, op.id)
        request = client.build_request(
            op.method.upper(),
            _render_path(op, arguments),
            params={
                p.name: _query_value(arguments[p.name])
                for p in op.parameters
                if p.where == "query" and arguments.get(p.name) is not None
            },
            headers={
                **{
                    p.name: _as_text(arguments[p.name])
                    for p in op.parameters
                    if p.where == "header" and arguments.get(p.name) is not None
                },
                **credentials,
            },
            **_body(op, arguments.get("body")),
        )
        margin = max((len(value.encode()) for value in hidden), default=0)
        try:
            response = await client.send(request, stream=True)
            try:
                data, truncated = await _read(response, context.max_output + margin)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return _error(f"{self.cfg.name!r} did not answer {op.method.upper()} {op.path} in time")
        except httpx.HTTPError as exc:
            self._down(exc)
            return _error(f"cannot reach the service {self.cfg.name!r}: {type(exc).__name__}")
        self._reachable = True
        text = redact(data.decode(response.encoding or "utf-8", errors="replace"), hidden)
        return _result(op, response, text, truncated, context.max_output)

    def _credentials(self, tool: str) -> tuple[dict[str, str], tuple[str, ...]]:
        try:
            return resolve_auth(self.cfg.headers, self.cfg.bearer, self._secrets)
        except SecretUnavailableError as exc:
            raise ToolError(f"Error executing tool {tool}: {exc}") from exc


def openapi_source(cfg: OpenApiToolsConfig, secrets: SecretResolver) -> OpenApiSource:
    """Read ``cfg.spec`` and build the source.

    Raises ``ToolLoadError`` saying what is wrong with a spec file. A spec URL that cannot be
    loaded gives a source without tools that retries once started (its ``problems`` say why).
    """
    try:
        document = _fetch_document(cfg, secrets)
        return OpenApiSource(cfg, secrets, document)
    except ToolLoadError as exc:
        if not _is_url(cfg.spec):
            raise
        return OpenApiSource(cfg, secrets, None, missing=exc.detail)


def secret_references(cfg: OpenApiToolsConfig) -> list[tuple[str, str]]:
    """``(key, secret name)`` for every ``vault:`` value of ``cfg``."""
    return auth_references(cfg.headers, cfg.bearer)


def _fetch_document(cfg: OpenApiToolsConfig, secrets: SecretResolver) -> dict[str, Any]:
    """The document ``cfg.spec`` names (blocks: a file read or an HTTP fetch)."""
    if not _is_url(cfg.spec):
        return _checked(_read_file(cfg.spec), cfg.spec)
    headers: dict[str, str] = {}
    if cfg.base_url is not None and _origin(cfg.spec) == _origin(cfg.base_url):
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
    home = _origin(url)

    def keep_credentials_home(request: httpx.Request) -> None:
        if _origin(str(request.url)) != home:
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


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _checked(text: str, location: str) -> dict[str, Any]:
    document = _parse(text, location)
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise ToolLoadError(f"{location} is not an OpenAPI 3 document (no 'openapi: 3.x' key)")
    if not isinstance(document.get("paths"), dict):
        raise ToolLoadError(f"{location} has no 'paths' table")
    return document


def _catalog(cfg: OpenApiToolsConfig, document: Mapping[str, Any]) -> _Catalog:
    base_url = _base_url(cfg, document)
    operations, skipped, every = _operations(document, cfg)
    return _Catalog(base_url, operations, skipped, every)


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


def _base_url(cfg: OpenApiToolsConfig, document: Mapping[str, Any]) -> str:
    if cfg.base_url is not None:
        return cfg.base_url
    servers = document.get("servers") or []
    url = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
    if isinstance(url, str) and url:
        if _is_url(url):
            return url
        if _is_url(cfg.spec):
            return urljoin(cfg.spec, url)
    raise ToolLoadError(
        "the document names no absolute server URL; set base_url (the service's root URL)"
    )


def _operations(
    document: Mapping[str, Any], cfg: OpenApiToolsConfig
) -> tuple[list[_Operation], list[tuple[str, str]], list[tuple[str, tuple[str, ...]]]]:
    operations: list[_Operation] = []
    skipped: list[tuple[str, str]] = []
    every: list[tuple[str, tuple[str, ...]]] = []
    for path, raw_item in document["paths"].items():
        try:
            item = _resolve(document, raw_item)
        except _Unsupported as exc:
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
            except _Unsupported as exc:
                skipped.append(("", f"operation {op_id!r} is left out: {exc}; exclude it"))
    return operations, skipped, every


class _Unsupported(Exception):
    """An operation the bridge cannot turn into a tool (the message says why)."""


def _operation(
    document: Mapping[str, Any],
    cfg: OpenApiToolsConfig,
    op_id: str,
    method: str,
    path: str,
    op: Mapping[str, Any],
    shared: list[Any],
    tags: tuple[str, ...],
) -> _Operation:
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*shared, *(op.get("parameters") or [])]:
        param = _resolve(document, raw)
        if isinstance(param, dict) and "name" in param and "in" in param:
            merged[(str(param["in"]), str(param["name"]))] = param
    credential_headers = {name.lower() for name in cfg.headers}
    if cfg.bearer is not None:
        credential_headers.add("authorization")
    properties: dict[str, Any] = {}
    required: list[str] = []
    parameters: list[_Parameter] = []
    for (where, name), param in merged.items():
        if where not in ("path", "query", "header"):
            continue
        if where == "header" and name.lower() in credential_headers:
            continue
        if name in properties or name == "body":
            raise _Unsupported(f"two parameters are named {name!r}")
        schema = _inline(document, _param_schema(param))
        if param.get("description"):
            schema = {**schema, "description": str(param["description"])}
        properties[name] = schema
        parameters.append(_Parameter(name, where))  # type: ignore[arg-type]
        if where == "path" or param.get("required"):
            required.append(name)
    body = None
    request_body = _resolve(document, op.get("requestBody"))
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
        raise _Unsupported(
            f"its parameters do not form a valid JSON schema ({exc.message})"
        ) from exc
    summary = str(op.get("summary") or "").strip()
    text = "\n\n".join(part for part in (summary, str(op.get("description") or "").strip()) if part)
    description = f"{text}\n\n{method.upper()} {path}" if text else f"{method.upper()} {path}"
    return _Operation(
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
    document: Mapping[str, Any], request_body: Mapping[str, Any]
) -> tuple[BodyKind, dict[str, Any]]:
    content = request_body.get("content") or {}
    for media_type, media in content.items():
        kind = _body_kind(str(media_type))
        if kind is not None:
            schema = media.get("schema", {}) if isinstance(media, dict) else {}
            if kind == "text":
                schema = {"type": "string"}
            return kind, _inline(document, schema)
    raise _Unsupported(f"its request body types ({', '.join(content) or 'none'}) are not supported")


def _body_kind(media_type: str) -> BodyKind | None:
    media_type = media_type.split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type == "application/x-www-form-urlencoded":
        return "form"
    if media_type.startswith("text/"):
        return "text"
    return None


def _resolve(document: Mapping[str, Any], node: Any, depth: int = 0) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < _MAX_DEPTH:
        node = _pointer(document, node["$ref"])
        depth += 1
    return node


def _pointer(document: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise _Unsupported(f"it refers to another document ({ref})")
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise _Unsupported(f"its reference {ref} points nowhere")
        node = node[part]
    return node


def _inline(document: Mapping[str, Any], node: Any, seen: frozenset[str] = frozenset()) -> Any:
    """``node`` with local ``$ref``s replaced by what they point to (a cycle is left open)."""
    if isinstance(node, list):
        return [_inline(document, item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen or len(seen) >= _MAX_DEPTH:
            return {"description": f"(recursive: {ref.rsplit('/', 1)[-1]})"}
        return _inline(document, _pointer(document, ref), seen | {ref})
    out = {key: _inline(document, value, seen) for key, value in node.items()}
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]  # OpenAPI 3.0 spelling of a nullable type
    return out


def _tool_name(raw: str) -> str:
    name = _NOT_A_NAME.sub("_", str(raw)).strip("_")[:128]
    return name if tool_name_problem(name) is None else "operation"


def _selects(pattern: str, op_id: str, tags: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for value in (op_id, *tags))


def _selected(cfg: OpenApiToolsConfig, op_id: str, tags: tuple[str, ...]) -> bool:
    if cfg.include is not None and not any(_selects(p, op_id, tags) for p in cfg.include):
        return False
    return not any(_selects(p, op_id, tags) for p in cfg.exclude)


def _render_path(op: _Operation, arguments: Mapping[str, Any]) -> str:
    path = op.path
    for param in op.parameters:
        if param.where == "path":
            value = quote(_as_text(arguments[param.name]), safe="")
            if value in (".", ".."):
                value = value.replace(".", "%2E")
            path = path.replace("{" + param.name + "}", value)
    return path.lstrip("/")


def _body(op: _Operation, body: Any) -> dict[str, Any]:
    if op.body is None or body is None:
        return {}
    if op.body == "json":
        return {"json": body}
    if op.body == "form":
        return {"data": body}
    return {"content": _as_text(body).encode()}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _query_value(value: Any) -> str | list[str]:
    if isinstance(value, list):
        return [_as_text(item) for item in value]  # repeated keys: OpenAPI's default form style
    return _as_text(value)


async def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > limit:
            return bytes(data[:limit]), True
    return bytes(data), False


def _result(
    op: _Operation, response: httpx.Response, text: str, truncated: bool, cap: int
) -> CallToolResult:
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.status_code >= 300:
        short = text[:_SHORT_BODY] + ("..." if len(text) > _SHORT_BODY or truncated else "")
        where = response.headers.get("location")
        detail = f" (redirect to {where} not followed)" if where else ""
        return _error(f"{status}{detail}: {short}" if short.strip() else f"{status}{detail}")
    if op.method == "head":
        kind = response.headers.get("content-type", "-")
        size = response.headers.get("content-length", "-")
        return _text(f"{status}; content-type {kind}; content-length {size}")
    if truncated:
        return _text(
            f"{text}\n[response truncated: more than {cap} bytes, showing the first {cap}]"
        )
    if not text:
        return _text(status)
    structured = None
    if "json" in response.headers.get("content-type", ""):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        structured = parsed if isinstance(parsed, dict) else None
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


def _text(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)])


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
