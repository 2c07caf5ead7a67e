"""An internal HTTP service for the OpenAPI tests, with its OpenAPI document at /openapi.json.

Every API request must carry ``Authorization: Bearer <secret>`` or ``X-Api-Key: <secret>``
(else 401); so must a request for the document with ``spec_needs_auth``. ``/moved.json``
redirects to ``spec_redirect``. The headers of every request are appended to ``seen``.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

_ITEM = {"$ref": "#/components/schemas/Item"}
_ITEM_ID = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "description": "The item's number",
    "schema": {"type": "integer"},
}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Inventory", "version": "1"},
    "servers": [{"url": "/api"}],
    "paths": {
        "/items": {
            "get": {
                "operationId": "listItems",
                "tags": ["items"],
                "summary": "List items",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "tag", "in": "query", "schema": {"type": "string", "nullable": True}},
                ],
                "responses": {"200": {"description": "ok"}},
            },
            "post": {
                "operationId": "createItem",
                "tags": ["items"],
                "summary": "Create an item",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NewItem"}}
                    },
                },
                "responses": {
                    "201": {
                        "description": "created",
                        "content": {"application/json": {"schema": _ITEM}},
                    }
                },
            },
        },
        "/items/{item_id}": {
            "parameters": [{"$ref": "#/components/parameters/ItemId"}],
            "get": {
                "operationId": "getItem",
                "tags": ["items"],
                "summary": "Get one item",
                "responses": {},
            },
            "head": {"operationId": "headItem", "tags": ["items"], "responses": {}},
            "delete": {"operationId": "deleteItem", "tags": ["items"], "responses": {}},
        },
        "/categories": {
            "post": {
                "operationId": "createCategory",
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Category"}}
                    }
                },
                "responses": {},
            }
        },
        "/notes": {
            "post": {
                "operationId": "addNote",
                "requestBody": {
                    "required": True,
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "responses": {},
            }
        },
        "/whoami": {
            "get": {
                "operationId": "whoami",
                "summary": "What credential the service saw",
                "responses": {},
            }
        },
        "/big": {
            "get": {
                "operationId": "big",
                "parameters": [
                    {"name": "kib", "in": "query", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {},
            }
        },
        "/broken": {"get": {"operationId": "broken", "responses": {}}},
        "/report": {"get": {"operationId": "report", "responses": {}}},
        "/admin/reset": {"post": {"operationId": "resetAll", "tags": ["admin"], "responses": {}}},
    },
    "components": {
        "parameters": {"ItemId": _ITEM_ID},
        "schemas": {
            "NewItem": {
                "type": "object",
                "required": ["name", "price"],
                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
            },
            "Item": {
                "allOf": [
                    {"$ref": "#/components/schemas/NewItem"},
                    {"type": "object", "properties": {"id": {"type": "integer"}}},
                ]
            },
            "Category": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Category"},
                    },
                },
            },
        },
    },
}

_ITEMS = {1: {"id": 1, "name": "bolt", "price": 0.5}, 2: {"id": 2, "name": "nut", "price": 0.2}}


def inventory_app(
    secret: str,
    seen: MutableSequence[dict[str, str]],
    *,
    spec_needs_auth: bool = False,
    spec_redirect: str | None = None,
) -> Starlette:
    """The service; ``secret`` is the credential it accepts."""

    def authorized(request: Request) -> bool:
        seen.append(dict(request.headers))
        return (
            request.headers.get("authorization") == f"Bearer {secret}"
            or request.headers.get("x-api-key") == secret
        )

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if not authorized(request):
                return JSONResponse({"detail": "unauthorized"}, status_code=401)
            return await handler(request)

        return endpoint

    async def spec(request: Request) -> Response:
        if not authorized(request) and spec_needs_auth:
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        return JSONResponse(SPEC)

    async def moved(request: Request) -> Response:
        seen.append(dict(request.headers))
        return RedirectResponse(spec_redirect or "/openapi.json", status_code=307)

    async def list_items(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "100"))
        tags = request.query_params.getlist("tag")
        return JSONResponse({"items": list(_ITEMS.values())[:limit], "limit": limit, "tags": tags})

    async def create_item(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"id": 3, **body}, status_code=201)

    async def item(request: Request) -> Response:
        item_id = int(request.path_params["item_id"])
        if request.method == "DELETE":
            return Response(status_code=204)
        if item_id not in _ITEMS:
            return JSONResponse({"detail": f"no item {item_id}"}, status_code=404)
        return JSONResponse(_ITEMS[item_id])

    async def add_note(request: Request) -> Response:
        return PlainTextResponse(f"noted: {(await request.body()).decode()}")

    async def whoami(request: Request) -> Response:
        return JSONResponse(
            {
                "authorization": request.headers.get("authorization"),
                "x-api-key": request.headers.get("x-api-key"),
            }
        )

    async def big(request: Request) -> Response:
        return PlainTextResponse("x" * int(request.query_params["kib"]) * 1024)

    async def broken(request: Request) -> Response:
        return PlainTextResponse("database exploded: " + "detail " * 200, status_code=500)

    async def report(request: Request) -> Response:
        return PlainTextResponse("all good")

    async def anything(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/openapi.json", spec),
            Route("/moved.json", moved),
            Route("/api/items", guarded(list_items), methods=["GET"]),
            Route("/api/items", guarded(create_item), methods=["POST"]),
            Route("/api/items/{item_id}", guarded(item), methods=["GET", "HEAD", "DELETE"]),
            Route("/api/notes", guarded(add_note), methods=["POST"]),
            Route("/api/whoami", guarded(whoami)),
            Route("/api/big", guarded(big)),
            Route("/api/broken", guarded(broken)),
            Route("/api/report", guarded(report)),
            Route("/api/categories", guarded(anything), methods=["POST"]),
            Route("/api/admin/reset", guarded(anything), methods=["POST"]),
        ]
    )
