"""Query strings: only the parameters an endpoint knows, each given at most once, typed."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from starlette.requests import Request

from tests.fakes.managed_agents.errors import bad
from tests.fakes.managed_agents.pagination import MAX_PAGE, Listing
from tests.fakes.managed_agents.values import parse_ts

LIST = {"limit", "page", "include_archived"}
TIME_BOUNDS = {f"created_at[{op}]" for op in ("gt", "gte", "lt", "lte")}


class Query:
    def __init__(self, request: Request, allowed: set[str]) -> None:
        self.params = request.query_params
        unknown = sorted(set(self.params.keys()) - allowed)
        if unknown:
            raise bad(f"unknown query parameter(s): {', '.join(unknown)}")

    def text(self, name: str) -> str | None:
        values = self.params.getlist(name)
        if len(values) > 1:
            raise bad(f"query parameter {name} is given more than once")
        return values[0] if values else None

    def boolean(self, name: str) -> bool:
        value = self.text(name)
        if value is None:
            return False
        if value not in ("true", "false"):
            raise bad(f"{name} must be true or false, not {value!r}")
        return value == "true"

    def integer(self, name: str, *, low: int, high: int | None = None) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not re.fullmatch(r"-?\d+", value) or int(value) < low or (high and int(value) > high):
            bounds = f"{low}..{high}" if high else f">= {low}"
            raise bad(f"{name} must be an integer in {bounds}, not {value!r}")
        return int(value)

    def order(self, default: Literal["asc", "desc"]) -> Literal["asc", "desc"]:
        value = self.text("order")
        if value is None:
            return default
        if value == "asc":
            return "asc"
        if value == "desc":
            return "desc"
        raise bad(f"order must be asc or desc, not {value!r}")

    def listing(
        self, scope: str, *, order: Literal["asc", "desc"], bidirectional: bool = False
    ) -> Listing:
        limit = self.integer("limit", low=1, high=MAX_PAGE) or 20
        return Listing(scope, limit, self.text("page"), order, bidirectional)

    def times(self, *ops: str) -> dict[str, datetime]:
        bounds = {}
        for op in ops:
            value = self.text(f"created_at[{op}]")
            if value is not None:
                try:
                    bounds[op] = parse_ts(value)
                except ValueError as exc:
                    raise bad(f"created_at[{op}] is not an RFC 3339 timestamp") from exc
        return bounds
