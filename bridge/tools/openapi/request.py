"""One call of an operation over HTTP: the request built from the arguments, the answer read.

httpx sends it (the source's client: timeouts, a bounded connection pool, redirects not
followed) with only the service's own credential: nothing of the caller's request is forwarded.
The response body, JSON or text, read up to the output cap, is the result; a 3xx/4xx/5xx answer
is an ``isError`` result with the status and a short body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from mcp.types import CallToolResult, TextContent

from bridge.tools.openapi.operations import Operation

_SHORT_BODY = 500


def build_request(
    client: httpx.AsyncClient,
    op: Operation,
    arguments: Mapping[str, Any],
    credentials: Mapping[str, str],
) -> httpx.Request:
    """The request for ``op`` with (validated) ``arguments`` and the service's ``credentials``."""
    return client.build_request(
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


async def exchange(
    client: httpx.AsyncClient, request: httpx.Request, limit: int
) -> tuple[httpx.Response, bytes, bool]:
    """Send ``request``; the response, its body up to ``limit`` bytes, and whether it was cut.

    Raises httpx's errors (``TimeoutException``, ``HTTPError``).
    """
    response = await client.send(request, stream=True)
    try:
        data, truncated = await _read(response, limit)
    finally:
        await response.aclose()
    return response, data, truncated


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


def to_result(
    op: Operation, response: httpx.Response, text: str, truncated: bool, cap: int
) -> CallToolResult:
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.status_code >= 300:
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
