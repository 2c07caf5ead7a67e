"""One call of an operation over HTTP: the request built from the arguments, the answer read.

aiohttp sends it (the source's session: timeouts, a bounded connection pool, redirects not
followed) with only the service's own credential: nothing of the caller's request is forwarded.
The response body, JSON or text, read up to the output cap, is the result; a 3xx/4xx/5xx answer
is an ``isError`` result with the status and a short body.

aiohttp rather than httpx, which the rest of the project uses: a call through an OpenAPI tool is
one request to the service, and measured under load (``benchmarks/run.py --only sources``)
httpx's connection pool spent about a third of the bridge's CPU per call (a ``select`` per
connection checkout, anyio locks and events), where aiohttp's pool and C parser spend a fraction.
The URL is built here, already encoded (``yarl.URL(..., encoded=True)``), so that nothing
re-normalises an encoded path parameter such as ``%2E%2E``.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from mcp.types import CallToolResult, TextContent
from yarl import URL

from bridge.tools.openapi.operations import Operation

_SHORT_BODY = 500
_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One request to send: method, absolute URL, headers (the credential stays out of repr)."""

    method: str
    url: URL
    headers: dict[str, str] = field(repr=False)
    body: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the service answered, apart from the body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    charset: str


def build_request(
    base_url: str,
    op: Operation,
    arguments: Mapping[str, Any],
    credentials: Mapping[str, str],
) -> Outgoing:
    """The request for ``op`` with (validated) ``arguments`` and the service's ``credentials``."""
    query = [
        (p.name, value)
        for p in op.parameters
        if p.where == "query" and arguments.get(p.name) is not None
        for value in _query_values(arguments[p.name])
    ]
    target = base_url.rstrip("/") + "/" + _render_path(op, arguments)
    if query:
        target += ("&" if "?" in target else "?") + urlencode(query, quote_via=quote)
    headers = {
        **{
            p.name: _as_text(arguments[p.name])
            for p in op.parameters
            if p.where == "header" and arguments.get(p.name) is not None
        },
        **credentials,
    }
    return Outgoing(
        op.method.upper(), URL(target, encoded=True), headers, _body(op, arguments.get("body"))
    )


async def exchange(
    session: aiohttp.ClientSession, request: Outgoing, limit: int
) -> tuple[Answer, bytes, bool]:
    """Send ``request``; the answer, its body up to ``limit`` bytes, and whether it was cut.

    Raises aiohttp's errors (``TimeoutError`` for a timeout, ``aiohttp.ClientError``).
    """
    async with session.request(
        request.method, request.url, headers=request.headers, allow_redirects=False,
        **request.body,
    ) as response:  # fmt: skip
        data = bytearray()
        truncated = False
        async for chunk in response.content.iter_chunked(_CHUNK):
            data += chunk
            if len(data) > limit:
                del data[limit:]
                truncated = True
                break
        answer = Answer(
            response.status, response.reason or "", response.headers, _charset(response.charset)
        )
    return answer, bytes(data), truncated


def _charset(name: str | None) -> str:
    if name:
        try:
            codecs.lookup(name)
        except LookupError:
            return "utf-8"
        return name
    return "utf-8"


def _render_path(op: Operation, arguments: Mapping[str, Any]) -> str:
    path = op.path
    for param in op.parameters:
        if param.where == "path":
            value = quote(_as_text(arguments[param.name]), safe="")
            if value in (".", ".."):
                value = value.replace(".", "%2E")
            path = path.replace("{" + param.name + "}", value)
    return path.lstrip("/")


def _body(op: Operation, body: Any) -> dict[str, Any]:
    if op.body is None or body is None:
        return {}
    if op.body == "json":
        return {"json": body}
    if op.body == "form":
        return {"data": {key: _as_text(value) for key, value in dict(body).items()}}
    return {"data": _as_text(body)}  # text/plain; charset=utf-8


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _query_values(value: Any) -> list[str]:
    if isinstance(value, list):
        return [_as_text(item) for item in value]  # repeated keys: OpenAPI's default form style
    return [_as_text(value)]


def to_result(
    op: Operation, response: Answer, text: str, truncated: bool, cap: int
) -> CallToolResult:
    status = f"HTTP {response.status} {response.reason}".rstrip()
    if response.status >= 300:
        short = text[:_SHORT_BODY] + ("..." if len(text) > _SHORT_BODY or truncated else "")
        where = response.headers.get("location")
        detail = f" (redirect to {where} not followed)" if where else ""
        return error_result(f"{status}{detail}: {short}" if short.strip() else f"{status}{detail}")
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


def error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
