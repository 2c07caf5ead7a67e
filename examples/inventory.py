"""Inventory tools for the example bridge: stock lookups and adjustments on a small SQLite dataset.

The data ships as ``data/inventory.csv`` and is loaded into an in-memory SQLite database when the
module is imported, so every bridge restart starts from the same stock levels.
"""

from __future__ import annotations

import csv
import sqlite3
import threading
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from bridge import tool

_DATA = Path(__file__).with_name("data") / "inventory.csv"
_COLUMNS = "sku, name, category, location, quantity, reorder_level, unit_price, discontinued"


class Item(BaseModel):
    sku: str
    name: str
    category: str
    location: str
    quantity: int
    reorder_level: int
    unit_price: float
    discontinued: bool
    needs_reorder: bool


class CategoryStock(BaseModel):
    category: str
    items: int
    units: int
    value: float


class StockSummary(BaseModel):
    items: int
    units: int
    value: float
    below_reorder_level: list[str]
    categories: list[CategoryStock]


def _open() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute(
        "CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,"
        " location TEXT NOT NULL, quantity INTEGER NOT NULL CHECK (quantity >= 0),"
        " reorder_level INTEGER NOT NULL, unit_price REAL NOT NULL,"
        " discontinued INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute(
        "CREATE TABLE movements (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, delta INTEGER NOT NULL,"
        " reason TEXT NOT NULL)"
    )
    with _DATA.open(newline="", encoding="utf-8") as handle:
        rows = [
            (r["sku"], r["name"], r["category"], r["location"], int(r["quantity"]),
             int(r["reorder_level"]), float(r["unit_price"]))
            for r in csv.DictReader(handle)
        ]  # fmt: skip
    db.executemany(
        "INSERT INTO items (sku, name, category, location, quantity, reorder_level, unit_price)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    return db


_db = _open()
_lock = threading.Lock()  # sync tools run in worker threads; one connection, one writer


def _item(row: sqlite3.Row) -> Item:
    return Item(
        **{key: row[key] for key in row.keys()},  # noqa: SIM118 - sqlite3.Row is not a Mapping
        needs_reorder=row["quantity"] <= row["reorder_level"] and not row["discontinued"],
    )


def _get(sku: str) -> Item:
    row = _db.execute(f"SELECT {_COLUMNS} FROM items WHERE sku = ?", (sku.upper(),)).fetchone()
    if row is None:
        raise ToolError(f"no item with SKU {sku!r}; use find_items to look one up")
    return _item(row)


@tool(read_only=True)
def find_items(
    query: str = "",
    category: str | None = None,
    below_reorder_level: bool = False,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> list[Item]:
    """Find stock items whose name or SKU contains `query` (case-insensitive).

    Filter by `category` (fasteners, power-tools, safety, electrical, plumbing, paint,
    hand-tools) or to items at or below their reorder level.
    """
    sql = f"SELECT {_COLUMNS} FROM items WHERE (name LIKE ? OR sku LIKE ?)"
    args: list[object] = [f"%{query}%", f"%{query}%"]
    if category:
        sql += " AND category = ?"
        args.append(category.lower())
    if below_reorder_level:
        sql += " AND quantity <= reorder_level AND discontinued = 0"
    sql += " ORDER BY sku LIMIT ?"
    args.append(limit)
    with _lock:
        return [_item(row) for row in _db.execute(sql, args)]


@tool(read_only=True)
def get_item(sku: str) -> Item:
    """Return one stock item by its SKU (for example AX-1001)."""
    with _lock:
        return _get(sku)


@tool(read_only=True)
async def stock_summary() -> StockSummary:
    """Summarise stock: totals, value per category and the SKUs at or below reorder level."""
    with _lock:
        categories = [
            CategoryStock(category=r[0], items=r[1], units=r[2], value=round(r[3], 2))
            for r in _db.execute(
                "SELECT category, COUNT(*), SUM(quantity), SUM(quantity * unit_price)"
                " FROM items WHERE discontinued = 0 GROUP BY category ORDER BY category"
            )
        ]
        low = [
            r[0]
            for r in _db.execute(
                "SELECT sku FROM items WHERE quantity <= reorder_level AND discontinued = 0"
                " ORDER BY sku"
            )
        ]
    return StockSummary(
        items=sum(c.items for c in categories),
        units=sum(c.units for c in categories),
        value=round(sum(c.value for c in categories), 2),
        below_reorder_level=low,
        categories=categories,
    )


@tool(destructive=False)
def adjust_stock(sku: str, delta: int, reason: str) -> Item:
    """Record a stock movement: a positive `delta` for goods received, negative for goods issued.

    `reason` is kept with the movement (for example "PO 4471 received" or "issued to job 88").
    """
    if not reason.strip():
        raise ToolError("give a reason for the stock movement")
    with _lock:
        item = _get(sku)
        if item.discontinued:
            raise ToolError(f"{item.sku} is discontinued; stock can no longer be moved")
        if item.quantity + delta < 0:
            raise ToolError(f"only {item.quantity} of {item.sku} in stock; cannot issue {-delta}")
        _db.execute("UPDATE items SET quantity = quantity + ? WHERE sku = ?", (delta, item.sku))
        _db.execute(
            "INSERT INTO movements (sku, delta, reason) VALUES (?, ?, ?)", (item.sku, delta, reason)
        )
        _db.commit()
        return _get(item.sku)


@tool(destructive=True)
def discontinue_item(sku: str) -> Item:
    """Mark an item as discontinued: it drops out of reorder lists and stock can no longer move."""
    with _lock:
        item = _get(sku)
        _db.execute("UPDATE items SET discontinued = 1 WHERE sku = ?", (item.sku,))
        _db.commit()
        return _get(item.sku)
