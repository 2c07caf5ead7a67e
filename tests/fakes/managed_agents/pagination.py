"""List pages: opaque cursors that remember their listing and order, and the page window."""

from __future__ import annotations

import base64
import binascii
import copy
import json
from dataclasses import dataclass
from typing import Any, Literal

from tests.fakes.managed_agents.errors import bad

MAX_PAGE = 100


@dataclass
class Listing:
    scope: str
    limit: int
    page: str | None
    order: Literal["asc", "desc"]
    bidirectional: bool = False


def _encode_cursor(scope: str, order: str, key: int, direction: str) -> str:
    raw = json.dumps({"s": scope, "o": order, "k": key, "d": direction}, separators=(",", ":"))
    return "page_" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, scope: str, order: str) -> tuple[int, str]:
    try:
        if not cursor.startswith("page_"):
            raise ValueError(cursor)
        data = cursor[5:]
        decoded = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        key, direction = int(decoded["k"]), str(decoded["d"])
        cursor_scope, cursor_order = decoded["s"], decoded["o"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad(f"page {cursor!r} is not a valid page cursor") from exc
    if cursor_scope != scope:
        raise bad("page cursor belongs to another listing")
    if cursor_order != order:
        raise bad(f"page cursor was made with order={cursor_order}; it cannot be used with {order}")
    return key, direction


def paginate(rows: list[tuple[int, dict[str, Any]]], listing: Listing) -> dict[str, Any]:
    """The page of ``rows`` (sort key, body) that ``listing`` asks for."""
    ascending = listing.order == "asc"
    rows = sorted(rows, key=lambda row: row[0], reverse=not ascending)
    keys = [key for key, _ in rows]
    start, end = 0, listing.limit
    if listing.page:
        key, direction = _decode_cursor(listing.page, listing.scope, listing.order)
        if direction == "next":
            start = sum(1 for k in keys if (k <= key if ascending else k >= key))
            end = start + listing.limit
        else:
            end = sum(1 for k in keys if (k < key if ascending else k > key))
            start = max(0, end - listing.limit)
    window = rows[start:end]
    page: dict[str, Any] = {
        "data": [copy.deepcopy(body) for _, body in window],
        "next_page": (
            _encode_cursor(listing.scope, listing.order, window[-1][0], "next")
            if window and start + len(window) < len(rows)
            else None
        ),
    }
    if listing.bidirectional:
        page["prev_page"] = (
            _encode_cursor(listing.scope, listing.order, window[0][0], "prev")
            if window and start > 0
            else None
        )
    return page
