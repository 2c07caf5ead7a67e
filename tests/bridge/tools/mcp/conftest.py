"""A directory where the stdio test server records what it saw."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def record(tmp_path: Path) -> Path:
    path = tmp_path / "record"
    path.mkdir()
    return path
