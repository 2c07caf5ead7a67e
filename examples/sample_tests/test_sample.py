"""A tiny test suite for the example `run_tests` command tool to run."""

from __future__ import annotations

import csv
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "inventory.csv"


def _rows() -> list[dict[str, str]]:
    with DATA.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_sku_is_unique() -> None:
    skus = [row["sku"] for row in _rows()]
    assert len(skus) == len(set(skus))


def test_quantities_and_prices_are_not_negative() -> None:
    for row in _rows():
        assert int(row["quantity"]) >= 0, row["sku"]
        assert float(row["unit_price"]) > 0, row["sku"]


def test_every_item_has_a_location() -> None:
    assert all(row["location"].strip() for row in _rows())
