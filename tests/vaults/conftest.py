"""Fixtures of the vault tests: the store, on each engine.

A test that takes ``store`` (or ``engine``) runs once per engine: on SQLite in the test's own
MCP_VAULT_DIR, and on PostgreSQL in a fresh schema of the session's server, selected the way a
user selects it (``MCP_VAULT_DATABASE_URL``), so that ``Store.open()`` and ``mcp-vault``
subprocesses in the test open the same store. ``@pytest.mark.sqlite_only`` keeps a test of the
SQLite engine itself off PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vaults import Store

ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("engine", ["sqlite"] if only else list(ENGINES), indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The index engine of this run of the test."""
    if request.param == "postgresql":
        monkeypatch.setenv("MCP_VAULT_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return str(request.param)


@pytest.fixture
def store(engine: str) -> Iterator[Store]:
    """A store in the test's own MCP_VAULT_DIR (see the suite's isolation fixture), with its
    index on ``engine``."""
    with Store.open() as opened:
        yield opened
