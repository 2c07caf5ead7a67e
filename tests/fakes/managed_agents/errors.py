"""The API's errors: the envelope every error uses, and the exception the routes raise."""

from __future__ import annotations

from typing import Any

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, *, error_code: str | None = None) -> dict[str, Any]:
    """The API's error envelope (``request_id`` is filled in when it is sent)."""
    error: dict[str, Any] = {"type": _error_type(status), "message": message}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": None}


class ApiError(Exception):
    """Raised by a route or a rule: answered with ``status`` and the envelope."""

    def __init__(self, status: int, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


def bad(message: str, *, error_code: str | None = None) -> ApiError:
    return ApiError(400, message, error_code=error_code)


def not_found(kind: str, ident: str, *, error_code: str | None = None) -> ApiError:
    return ApiError(404, f"{kind} {ident} not found", error_code=error_code)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)
