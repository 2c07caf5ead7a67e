"""Vaults: round trip, archive with their credentials."""

from __future__ import annotations

import anthropic
import pytest

from tests.fakes.test_managed_agents.helpers import (
    Client,
)


def test_vault_round_trip(anthropic_client: Client) -> None:
    created = anthropic_client.beta.vaults.create(display_name="alice", metadata={"u": "1"})

    assert created.id.startswith("vlt_")
    renamed = anthropic_client.beta.vaults.update(created.id, display_name="alice-2")
    assert (renamed.display_name, renamed.metadata) == ("alice-2", {"u": "1"})
    assert anthropic_client.beta.vaults.retrieve(created.id) == renamed

    archived = anthropic_client.beta.vaults.archive(created.id)
    assert archived.archived_at is not None
    assert list(anthropic_client.beta.vaults.list()) == []
    assert [v.id for v in anthropic_client.beta.vaults.list(include_archived=True)] == [created.id]

    deleted = anthropic_client.beta.vaults.delete(created.id)
    assert (deleted.id, deleted.type) == (created.id, "vault_deleted")
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.beta.vaults.retrieve(created.id)
