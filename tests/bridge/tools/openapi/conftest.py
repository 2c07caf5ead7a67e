"""The inventory test service, live on loopback, and its OpenAPI document as a file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.backends.inventory import SPEC, inventory_app
from tests.bridge.tools.openapi.support import SECRET
from tests.support.live import LiveServer, serve


@pytest.fixture
def service() -> Iterator[tuple[LiveServer, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    with serve(inventory_app(SECRET, seen)) as live:
        yield live, seen


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(SPEC))
    return path
