"""Pytest fixtures for the Managed Agents fake: ``fake_api``, ``api`` (the same, with
``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` pointing at it, as a user's CLI would find
them) and ``anthropic_client``.

One uvicorn serves the whole session; every test gets a fresh ``ManagedAgentsState`` on it.
A test that needs the API to go down uses ``serve_fake`` from ``tests.fakes.server`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.fakes.managed_agents import ManagedAgentsState
from tests.fakes.server import FakeServer, RunningFake, run_server


@pytest.fixture(scope="session")
def fake_api_server() -> Iterator[FakeServer]:
    with run_server() as server:
        yield server


@pytest.fixture
def fake_api(fake_api_server: FakeServer) -> Iterator[RunningFake]:
    """A fresh fake API on a loopback port: ``.base_url``, ``.state``, ``.api_key``."""
    running = fake_api_server.install(ManagedAgentsState())
    try:
        yield running
    finally:
        running.state.drop_streams()


@pytest.fixture
def anthropic_client(fake_api: RunningFake) -> Iterator[anthropic.Anthropic]:
    """The real SDK pointed at ``fake_api``: no retries, strict response validation."""
    with anthropic.Anthropic(
        base_url=fake_api.base_url,
        api_key=fake_api.api_key,
        max_retries=0,
        _strict_response_validation=True,
    ) as client:
        yield client


@pytest.fixture
def api(fake_api: RunningFake, monkeypatch: pytest.MonkeyPatch) -> RunningFake:
    """``fake_api``, found by ``mcp-vault`` and the helper through the environment."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_api.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.base_url)
    return fake_api
