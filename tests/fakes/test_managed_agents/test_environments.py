"""Environments: their config, name uniqueness and archive rules."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types.beta.beta_environment_archived_error import BetaEnvironmentArchivedError
from anthropic.types.beta.beta_invalid_config_type_change_error import (
    BetaInvalidConfigTypeChangeError,
)

from tests.fakes.test_managed_agents.helpers import (
    Client,
)


def test_environment_round_trip(anthropic_client: Client) -> None:
    created = anthropic_client.beta.environments.create(
        name="default",
        metadata={"team": "a", "tier": "b"},
        config={
            "type": "cloud",
            "networking": {"type": "limited", "allowed_hosts": ["api.example.com"]},
        },
    )

    assert created.id.startswith("env_")
    assert created.config.type == "cloud"
    assert created.config.networking.type == "limited"
    assert created.config.networking.allow_mcp_servers is False
    assert created.config.packages.pip == []
    updated = anthropic_client.beta.environments.update(
        created.id,
        metadata={"team": "", "tier": None, "new": "c"},
        config={"type": "cloud", "networking": {"type": "limited", "allow_mcp_servers": True}},
    )
    assert updated.metadata == {"new": "c"}
    networking: Any = updated.config.networking  # type: ignore[union-attr]
    assert networking.allowed_hosts == ["api.example.com"]
    assert networking.allow_mcp_servers is True
    assert anthropic_client.beta.environments.retrieve(created.id) == updated

    with pytest.raises(BetaInvalidConfigTypeChangeError):
        anthropic_client.beta.environments.update(created.id, config={"type": "self_hosted"})
    with pytest.raises(anthropic.ConflictError):
        anthropic_client.beta.environments.create(name="default")

    anthropic_client.beta.environments.archive(created.id)
    assert list(anthropic_client.beta.environments.list()) == []
    assert len(list(anthropic_client.beta.environments.list(include_archived=True))) == 1
    with pytest.raises(BetaEnvironmentArchivedError):
        anthropic_client.beta.environments.update(created.id, name="renamed")
    deleted = anthropic_client.beta.environments.delete(created.id)
    assert (deleted.id, deleted.type) == (created.id, "environment_deleted")
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.beta.environments.retrieve(created.id)
