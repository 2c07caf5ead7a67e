"""Internal HTTP services described by OpenAPI as tools: ``[[tools.openapi]]``.

The source of one service: its operations (:mod:`~bridge.tools.openapi.operations`) as tools,
each call one request (:mod:`~bridge.tools.openapi.request`) with the service's own credential
from the vault (``bearer`` or ``headers``, read at call time, redacted from the answer). GET and
HEAD operations are read-only.

The source is healthy while its document is loaded and the service answers: a bare ``HEAD`` of
``base_url`` (no credential, any status will do) is sent at start and then every second while
the service is down; a call that cannot connect marks it down, one that gets an answer marks it
up.

The document (:mod:`~bridge.tools.openapi.document`) is read when the config is loaded; a file
that is missing or invalid is a config error. A URL is the service's business: when it cannot be
fetched (or what it serves is no usable document) the source starts with no tools and unhealthy,
fetches again in the background (after ``retry_delay``, then doubling up to ``retry_delay_max``,
with ``tenacity``), and once the document loads its tools appear and listeners registered with
``on_tools_changed`` are told; names other sources already serve by then are left out (logged).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
import anyio
import anyio.abc
import anyio.to_thread
import tenacity
from jsonschema import Draft202012Validator
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations

from bridge.errors import SecretUnavailableError, ToolLoadError
from bridge.tools.curation import curate, curation_problems
from bridge.tools.openapi.config import OpenApiToolsConfig, is_url
from bridge.tools.openapi.document import Document, load_document
from bridge.tools.openapi.operations import Catalog, Operation, build_catalog, selects
from bridge.tools.openapi.request import build_request, error_result, exchange, to_result
from bridge.tools.registry import CallContext, Registry, ToolSpec
from bridge.tools.remote_auth import resolve_auth
from bridge.tools.secrets import SecretResolver, redact

log = logging.getLogger("bridge.openapi")

_READ_ONLY = ("get", "head")
_IDEMPOTENT = ("get", "head", "put", "delete", "options", "trace")
_DEFAULT_TIMEOUT = 30.0
_CONNECT_TIMEOUT = 5.0
_RECHECK = 1.0
_AUTH_FRESH_S = 0.25


class OpenApiSource:
    """The selected operations of one service; the HTTP client lives from ``start`` to ``stop``.

    Built without a document (``missing`` says why) when its URL could not be loaded; ``start``
    then keeps fetching it in the background.
    """

    def __init__(
        self,
        cfg: OpenApiToolsConfig,
        secrets: SecretResolver,
        document: Document | None,
        *,
        missing: str | None = None,
    ) -> None:
        self.name = f"openapi:{cfg.name}"
        self.cfg = cfg
        self.base_url: str | None = None
        self.operations: list[Operation] = []
        self._secrets = secrets
        self._skipped: list[tuple[str, str]] = []
        self._every: list[tuple[str, tuple[str, ...]]] = []
        self._specs: list[ToolSpec] = []
        self._missing = missing if document is None else None
        self._client: aiohttp.ClientSession | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._reachable = True
        self._registry: Registry | None = None
        self._listeners: list[Callable[[], Awaitable[None]]] = []
        self._auth: tuple[float, dict[str, str], tuple[str, ...]] | None = None
        if document is not None:
            self._use(build_catalog(cfg, document))

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
            await client.close()

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
                if not any(selects(pattern, op_id, tags) for op_id, tags in self._every):
                    found.append((key, f"{pattern!r} matches no operationId or tag"))
        found += curation_problems([op.id for op in self.operations], self.cfg)
        if not self._specs:
            found.append(("", "include/exclude/allow/deny leave no operation of this service"))
        return found

    def _use(self, catalog: Catalog, taken: Iterable[str] = ()) -> None:
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
        # The first attempt was made when the config was loaded: wait before the next one.
        await anyio.sleep(self.cfg.retry_delay)
        retrying = tenacity.AsyncRetrying(
            sleep=anyio.sleep,
            wait=tenacity.wait_exponential(
                multiplier=self.cfg.retry_delay * 2, max=self.cfg.retry_delay_max
            ),
            retry=tenacity.retry_if_exception_type(ToolLoadError),
            before_sleep=self._still_missing,
        )
        catalog: Catalog = await retrying(self._load)
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

    async def _load(self) -> Catalog:
        document = await anyio.to_thread.run_sync(
            load_document, self.cfg, self._secrets, abandon_on_cancel=True
        )
        return build_catalog(self.cfg, document)

    def _still_missing(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, ToolLoadError):
            if exc.detail != self._missing:
                log.warning("openapi %s: %s; retrying", self.cfg.name, exc.detail)
            self._missing = exc.detail

    async def _connect(self, group: anyio.abc.TaskGroup) -> None:
        assert self.base_url is not None
        connector = aiohttp.TCPConnector(
            limit=self.cfg.max_connections, limit_per_host=self.cfg.max_connections
        )
        timeout = aiohttp.ClientTimeout(
            total=self.cfg.timeout or _DEFAULT_TIMEOUT, connect=_CONNECT_TIMEOUT
        )
        self._client = aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
        )
        await self._knock(self._client)
        group.start_soon(self._recheck, self._client)

    async def _recheck(self, client: aiohttp.ClientSession) -> None:
        # Without this, a red /readyz could stay red for good: a load balancer that honours it
        # sends no more calls, and only a call would turn it green.
        while True:
            await anyio.sleep(_RECHECK)
            if not self._reachable:
                await self._knock(client)

    async def _knock(self, client: aiohttp.ClientSession) -> None:
        assert self.base_url is not None
        try:
            async with client.head(
                self.base_url, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=_CONNECT_TIMEOUT),
            ):  # fmt: skip
                pass
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._down(exc)
            return
        if not self._reachable:
            log.info("openapi %s: %s answers again", self.cfg.name, self.base_url)
        self._reachable = True

    def _down(self, exc: Exception) -> None:
        if self._reachable:
            log.warning(
                "openapi %s: cannot reach %s (%s)", self.cfg.name, self.base_url, type(exc).__name__
            )
        self._reachable = False

    def _spec(self, op: Operation) -> ToolSpec:
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
        op: Operation,
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
        credentials, hidden = await self._fresh_credentials(op.id)
        assert self.base_url is not None
        request = build_request(self.base_url, op, arguments, credentials)
        margin = max((len(value.encode()) for value in hidden), default=0)
        try:
            response, data, truncated = await exchange(client, request, context.max_output + margin)
        except TimeoutError:
            return error_result(
                f"{self.cfg.name!r} did not answer {op.method.upper()} {op.path} in time"
            )
        except aiohttp.ClientError as exc:
            self._down(exc)
            return error_result(f"cannot reach the service {self.cfg.name!r}: {type(exc).__name__}")
        self._reachable = True
        text = redact(data.decode(response.charset, errors="replace"), hidden)
        return to_result(op, response, text, truncated, context.max_output)

    async def _fresh_credentials(self, tool: str) -> tuple[dict[str, str], tuple[str, ...]]:
        # Resolving may read the index or the keyring, so it runs in a worker thread; what it gave
        # is reused for _AUTH_FRESH_S (the resolver's own recheck interval) without that hop.
        now = time.monotonic()
        if self._auth is not None and now - self._auth[0] < _AUTH_FRESH_S:
            return self._auth[1], self._auth[2]
        credentials, hidden = await anyio.to_thread.run_sync(self._credentials, tool)
        self._auth = (now, credentials, hidden)
        return credentials, hidden

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
        document = load_document(cfg, secrets)
        return OpenApiSource(cfg, secrets, document)
    except ToolLoadError as exc:
        if not is_url(cfg.spec):
            raise
        return OpenApiSource(cfg, secrets, None, missing=exc.detail)
