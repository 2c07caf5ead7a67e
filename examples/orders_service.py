"""An internal HTTP service: the shop's orders API, described by OpenAPI at ``/openapi.json``.

The bridge turns its operations into tools (see the ``[[tools.openapi]]`` block in
``bridge.toml``); the service knows nothing about MCP. Every ``/api/...`` request must carry the
service's own key in ``X-Api-Key`` (else 401); the key is read from ``ORDERS_API_KEY``.

    ORDERS_API_KEY="$(cat orders-key.txt)" python examples/orders_service.py [--port 8780]

The orders live in memory, so every start begins from the same few.
"""

from __future__ import annotations

import argparse
import copy
import hmac
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROG = "orders_service"
STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled"]

_ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "description": "The order number, e.g. SO-10042",
    "schema": {"type": "string"},
}
_ORDER = {"$ref": "#/components/schemas/Order"}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Orders", "version": "1.4.0", "description": "The shop's orders."},
    "servers": [{"url": "/api"}],
    "paths": {
        "/orders": {
            "get": {
                "operationId": "listOrders",
                "tags": ["orders"],
                "summary": "List orders, newest first, optionally by status or customer",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": STATUSES},
                    },
                    {
                        "name": "customer",
                        "in": "query",
                        "description": "Customer id, e.g. C-204",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The matching orders",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"orders": {"type": "array", "items": _ORDER}},
                                }
                            }
                        },
                    }
                },
            }
        },
        "/orders/{order_id}": {
            "parameters": [_ORDER_ID],
            "get": {
                "operationId": "getOrder",
                "tags": ["orders"],
                "summary": "One order with its lines and totals",
                "responses": {
                    "200": {
                        "description": "The order",
                        "content": {"application/json": {"schema": _ORDER}},
                    },
                    "404": {"description": "No such order"},
                },
            },
        },
        "/orders/{order_id}/cancel": {
            "parameters": [_ORDER_ID],
            "post": {
                "operationId": "cancelOrder",
                "tags": ["orders"],
                "summary": "Cancel an order that has not shipped yet",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["reason"],
                                "properties": {"reason": {"type": "string", "minLength": 1}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The cancelled order",
                        "content": {"application/json": {"schema": _ORDER}},
                    },
                    "409": {"description": "The order has shipped already"},
                },
            },
        },
    },
    "components": {
        "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        "schemas": {
            "Order": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "customer": {"type": "string"},
                    "status": {"type": "string", "enum": STATUSES},
                    "placed": {"type": "string", "format": "date"},
                    "lines": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "sku": {"type": "string"},
                                "quantity": {"type": "integer"},
                                "unit_price": {"type": "number"},
                            },
                        },
                    },
                    "total": {"type": "number"},
                    "cancel_reason": {"type": "string", "nullable": True},
                },
            }
        },
    },
    "security": [{"apiKey": []}],
}


def _order(
    id: str, customer: str, status: str, placed: str, lines: list[tuple[str, int, float]]
) -> dict[str, Any]:
    return {
        "id": id,
        "customer": customer,
        "status": status,
        "placed": placed,
        "lines": [{"sku": s, "quantity": q, "unit_price": p} for s, q, p in lines],
        "total": round(sum(q * p for _, q, p in lines), 2),
        "cancel_reason": None,
    }


# The SKUs are those of data/inventory.csv, so an agent can join orders with stock.
ORDERS = [
    _order("SO-10039", "C-118", "delivered", "2025-05-02", [("AX-1001", 2, 11.90)]),
    _order("SO-10040", "C-204", "shipped", "2025-05-09", [("BT-2001", 1, 129.00)]),
    _order("SO-10041", "C-204", "paid", "2025-05-14", [("AX-1002", 4, 8.40), ("AX-1003", 1, 5.10)]),
    _order("SO-10042", "C-311", "pending", "2025-05-16", [("AX-1010", 10, 14.75)]),
]

Handler = Callable[[Request], Awaitable[Response]]


def orders_app(api_key: str) -> Starlette:
    """The service, accepting ``api_key`` in ``X-Api-Key``; each app has its own orders."""
    if not api_key:
        raise ValueError("the service needs an API key")
    orders = {order["id"]: order for order in copy.deepcopy(ORDERS)}
    expected = api_key.encode()

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            given = request.headers.get("x-api-key", "").encode()
            if not hmac.compare_digest(given, expected):
                return JSONResponse({"detail": "missing or wrong X-Api-Key"}, status_code=401)
            return await handler(request)

        return endpoint

    async def spec(request: Request) -> Response:
        return JSONResponse(SPEC)

    async def list_orders(request: Request) -> Response:
        status = request.query_params.get("status")
        customer = request.query_params.get("customer")
        try:
            limit = min(max(int(request.query_params.get("limit", "20")), 1), 100)
        except ValueError:
            return JSONResponse({"detail": "limit must be an integer"}, status_code=400)
        found = [
            order
            for order in sorted(orders.values(), key=lambda o: o["placed"], reverse=True)
            if (status is None or order["status"] == status)
            and (customer is None or order["customer"] == customer)
        ]
        return JSONResponse({"orders": found[:limit]})

    def _lookup(request: Request) -> dict[str, Any] | Response:
        order_id = request.path_params["order_id"]
        if order_id not in orders:
            return JSONResponse({"detail": f"no order {order_id}"}, status_code=404)
        return orders[order_id]

    async def get_order(request: Request) -> Response:
        found = _lookup(request)
        return found if isinstance(found, Response) else JSONResponse(found)

    async def cancel_order(request: Request) -> Response:
        found = _lookup(request)
        if isinstance(found, Response):
            return found
        body = await request.json()
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not reason:
            return JSONResponse({"detail": "give a reason"}, status_code=400)
        if found["status"] in ("shipped", "delivered"):
            detail = f"order {found['id']} has {found['status']} already; start a return instead"
            return JSONResponse({"detail": detail}, status_code=409)
        found.update(status="cancelled", cancel_reason=reason)
        return JSONResponse(found)

    return Starlette(
        routes=[
            Route("/openapi.json", spec),
            Route("/api/orders", guarded(list_orders)),
            Route("/api/orders/{order_id}", guarded(get_order)),
            Route("/api/orders/{order_id}/cancel", guarded(cancel_order), methods=["POST"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8780, help="port to bind")
    args = parser.parse_args(argv)
    api_key = os.environ.get("ORDERS_API_KEY", "")
    if not api_key:
        print(f"{PROG}: error: set ORDERS_API_KEY to the key callers must send", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(orders_app(api_key), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
