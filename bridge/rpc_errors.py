"""One readable line for a malformed JSON-RPC message on Streamable HTTP.

The SDK answers a body that is no JSON-RPC message (a batch, an object without ``method``) with
a 400 whose message is pydantic's whole validation dump, about 1 KB and four to eleven errors
long. :func:`readable_errors` keeps the SDK's answer (status, code, ``id``) and replaces that
message with one line saying what is wrong and how to send it right. Only 400 answers are
looked at; every other response passes through untouched.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_DUMP = "Validation error:"
_BATCH = "input_type=list"
_NOT_AN_OBJECT = (
    "Invalid JSON-RPC message: a batch (a JSON array) is not supported; send one request object"
)
_SHAPE = (
    'Invalid JSON-RPC message: send one object with "jsonrpc": "2.0", a "method" and, for a '
    'request, an "id"'
)


def readable_errors(app: ASGIApp) -> ASGIApp:
    """``app`` with the SDK's validation dumps in 400 answers made one line."""

    async def rewritten(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        held: Message | None = None
        body = b""

        async def sending(message: Message) -> None:
            nonlocal held, body
            if message["type"] == "http.response.start":
                if message.get("status") == 400:
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body += message.get("body", b"")
                if message.get("more_body", False):
                    return
                start, held = held, None
                body = _one_line(body)
                headers = [(k, v) for k, v in start.get("headers", ()) if k != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await app(scope, receive, sending)

    return rewritten


def _one_line(body: bytes) -> bytes:
    try:
        answer = json.loads(body)
        message = answer["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return body
    if not isinstance(message, str) or not message.startswith(_DUMP):
        return body
    answer["error"]["message"] = _NOT_AN_OBJECT if _BATCH in message else _SHAPE
    return json.dumps(answer, separators=(",", ":")).encode()
