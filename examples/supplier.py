"""An optional tool that needs a vault secret: price quotes from the (simulated) supplier API.

Enable it in bridge.toml with ``[[tools.python]] module = "supplier"`` after storing the key:
``mcp-vault add supplier-api-key --kind secret`` (the value is read from stdin). The key reaches
the function at call time through its ``Secrets`` parameter; the agent never sees it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from pathlib import Path

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from bridge import Secrets, tool

with (Path(__file__).with_name("data") / "inventory.csv").open(newline="", encoding="utf-8") as f:
    _PRICES = {row["sku"]: float(row["unit_price"]) for row in csv.DictReader(f)}


class Quote(BaseModel):
    quote_id: str = Field(description="Quote reference to cite on the purchase order")
    sku: str
    quantity: int
    unit_price: float
    total: float
    discount_percent: float


@tool(read_only=True, secrets=["supplier-api-key"], timeout="20s")
def supplier_quote(sku: str, quantity: int, secrets: Secrets) -> Quote:
    """Ask the supplier for a price quote for `quantity` units of `sku` (volume discounts apply)."""
    price = _PRICES.get(sku.upper())
    if price is None:
        raise ToolError(f"the supplier does not list SKU {sku!r}")
    if quantity < 1:
        raise ToolError("quantity must be at least 1")
    discount = 10.0 if quantity >= 100 else 5.0 if quantity >= 25 else 0.0
    unit = round(price * (1 - discount / 100), 2)
    # Stands in for the supplier's signed request: the quote id is an HMAC under the API key.
    signature = hmac.new(
        secrets["supplier-api-key"].encode(), f"{sku.upper()}:{quantity}".encode(), hashlib.sha256
    ).hexdigest()
    return Quote(
        quote_id=f"Q-{signature[:12]}",
        sku=sku.upper(),
        quantity=quantity,
        unit_price=unit,
        total=round(unit * quantity, 2),
        discount_percent=discount,
    )
