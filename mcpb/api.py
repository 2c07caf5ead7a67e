"""One description of a failed Anthropic API call, for the vault sync and the agent helper.

The SDK's own exception classes carry the status, the API's message and the request id; this
turns them into one line that says what failed and what to do, with the fields kept apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic
import httpx2

from mcpb.errors import ApiFailure

HINTS: Mapping[int, str] = {
    401: "check ANTHROPIC_API_KEY",
    403: "check the API key's access to this workspace",
    404: "check the id (archived or deleted?)",
    429: "rate limited; retry later",
}


def api_message(exc: anthropic.APIStatusError) -> str:
    """The API's own ``error.message``, else the exception's class name (never the body)."""
    body: Any = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return type(exc).__name__


def describe(
    action: str,
    exc: BaseException,
    *,
    hints: Mapping[int, str] = HINTS,
    otherwise: str | None = "retry later",
    error: type[ApiFailure] = ApiFailure,
) -> ApiFailure:
    """``error`` saying that ``action`` failed because of ``exc``, with status and request id.

    ``hints`` map a status code to what to do; ``otherwise`` is the hint for any other status and
    for an API that cannot be reached (``None``: no hint, the caller adds its own).
    """
    tail = f"; {otherwise}" if otherwise else ""
    if isinstance(exc, anthropic.APIStatusError):
        hint = hints.get(exc.status_code) or otherwise
        request = f" (request id {exc.request_id})" if exc.request_id else ""
        return error(
            f"{action} failed: Anthropic API answered {exc.status_code}: {api_message(exc)}"
            f"{request}{f'; {hint}' if hint else ''}",
            status_code=exc.status_code,
            request_id=exc.request_id,
        )
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return error(f"{action} failed: the Anthropic API did not answer in time{tail}")
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        return error(
            f"{action} failed: cannot reach the Anthropic API ({type(exc).__name__}); "
            f"check the network or ANTHROPIC_BASE_URL{tail}"
        )
    return error(f"{action} failed: {type(exc).__name__}")
