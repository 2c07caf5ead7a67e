"""The endpoints most resources share the shape of: create, retrieve, update, list, archive,
delete. Each takes the resource's method and the path parameters it is called with, in order.

Every one refuses query parameters it does not know; archive also refuses a body (the SDK
sends none), delete reads none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from tests.fakes.managed_agents.bodies import empty_body, parse
from tests.fakes.managed_agents.query import LIST, Query
from tests.fakes.managed_agents.resource import Endpoint, json_response

Handler = Callable[..., dict[str, Any]]


def _ids(request: Request, params: tuple[str, ...]) -> list[str]:
    return [request.path_params[name] for name in params]


def create(handler: Handler, body: type[BaseModel], *params: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        Query(request, set())
        parsed = parse(body, await request.body())
        return json_response(handler(*_ids(request, params), parsed))

    return endpoint


update = create  # the same shape: the ids, then the parsed body


def retrieve(handler: Handler, *params: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        Query(request, set())
        return json_response(handler(*_ids(request, params)))

    return endpoint


delete = retrieve  # the same shape: the ids, no body read


def listing(handler: Handler, scope: str, *params: str) -> Endpoint:
    """A newest-first page; ``scope`` (formatted with the path parameters) keys its cursors."""

    async def endpoint(request: Request) -> Response:
        query = Query(request, LIST)
        page = query.listing(scope.format(**request.path_params), order="desc")
        include_archived = query.boolean("include_archived")
        return json_response(
            handler(*_ids(request, params), page, include_archived=include_archived)
        )

    return endpoint


def archive(handler: Handler, *params: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        Query(request, set())
        await empty_body(request)
        return json_response(handler(*_ids(request, params)))

    return endpoint
