"""Fixtures of the vault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vaults import Store


@pytest.fixture
def store() -> Iterator[Store]:
    """A store in the test's own MCP_VAULT_DIR (see the suite's isolation fixture)."""
    with Store.open() as opened:
        yield opened
