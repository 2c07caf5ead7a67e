"""The fake as a starlette app: every resource's routes behind the API's transport rules.

Each request gets a ``request-id``, is logged, may meet an injected failure (before auth), then
must carry the API key (``x-api-key`` or ``Authorization: Bearer``) and the ``anthropic-beta``
value of the resource it calls. Every error uses the API's envelope; 409s carry
``x-should-retry: false`` so the SDK surfaces them at once.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.managed_agents.errors import ApiError, bad, error_body
from tests.fakes.managed_agents.resource import Endpoint
from tests.fakes.managed_agents.state import ManagedAgentsState
from tests.fakes.managed_agents.values import new_id


def _error_response(status: int, body: Any, request_id: str, headers: dict[str, str]) -> Response:
    if isinstance(body, dict) and body.get("type") == "error":
        body = {**body, "request_id": request_id}
    response = JSONResponse(body, status_code=status, headers=headers)
    if status == 409:
        response.headers.setdefault("x-should-retry", "false")
    return response


def _authenticate(request: Request, api_key: str) -> None:
    presented = request.headers.get("x-api-key")
    if presented is None:
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            presented = authorization[7:]
    if presented is None:
        raise ApiError(401, "missing API key: send x-api-key or Authorization: Bearer")
    if not hmac.compare_digest(presented.encode(), api_key.encode()):
        raise ApiError(401, "invalid x-api-key")


def _check_beta(request: Request, beta: str) -> None:
    betas = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",")]
    if beta not in betas:
        raise bad(f"this endpoint requires the anthropic-beta header to include {beta}")


def create_app(state: ManagedAgentsState) -> Starlette:
    """The fake API as a starlette app serving ``state``."""

    def wrap(handler: Endpoint, beta: str) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            request_id = new_id("req_")
            state.record_request(request.method, request.url.path, unquote(request.url.query))
            rule = state.take_failure(request.method, request.url.path)
            if rule is not None:
                body = (
                    rule.body
                    if rule.body is not None
                    else error_body(rule.status, "injected failure")
                )
                response = _error_response(rule.status, body, request_id, rule.headers)
            else:
                try:
                    _authenticate(request, state.api_key)
                    _check_beta(request, beta)
                    response = await handler(request)
                except ApiError as exc:
                    body = error_body(exc.status, exc.message, error_code=exc.error_code)
                    response = _error_response(exc.status, body, request_id, {})
            response.headers["request-id"] = request_id
            return response

        return endpoint

    routes = [
        Route(path, wrap(handler, resource.beta), methods=[method])
        for resource in state.resources
        for method, path, handler in resource.routes()
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = "not found" if status == 404 else str(getattr(exc, "detail", "error"))
        request_id = new_id("req_")
        response = _error_response(status, error_body(status, message), request_id, {})
        response.headers["request-id"] = request_id
        return response

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})
