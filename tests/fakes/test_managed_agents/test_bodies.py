"""Request bodies: strict fields, and the metadata limits and patch rules."""

from __future__ import annotations

import anthropic
import pytest
from anthropic.types.beta.beta_invalid_metadata_error import BetaInvalidMetadataError

from tests.fakes import managed_agents as fake
from tests.fakes.test_managed_agents.helpers import (
    Client,
)


def test_missing_required_field_is_rejected(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.BadRequestError, match="display_name: Field required"):
        anthropic_client.post(
            "/v1/vaults",
            cast_to=object,
            body={"metadata": {}},
            options={"headers": {"anthropic-beta": fake.BETA}},
        )


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({f"k{i}": "v" for i in range(17)}, id="17-pairs"),
        pytest.param({"k" * 65: "v"}, id="long-key"),
        pytest.param({"k": "v" * 513}, id="long-value"),
    ],
)
def test_metadata_limits_are_invalid_metadata(
    anthropic_client: Client, metadata: dict[str, str]
) -> None:
    with pytest.raises(BetaInvalidMetadataError) as caught:
        anthropic_client.beta.vaults.create(display_name="v", metadata=metadata)

    assert caught.value.error_code == "invalid_metadata"


def test_metadata_patch_may_not_grow_past_the_limit(anthropic_client: Client) -> None:
    vault = anthropic_client.beta.vaults.create(
        display_name="v", metadata={f"k{i}": "v" for i in range(16)}
    )

    with pytest.raises(BetaInvalidMetadataError):
        anthropic_client.beta.vaults.update(vault.id, metadata={"one-more": "v"})

    replaced = anthropic_client.beta.vaults.update(vault.id, metadata={"k0": None, "new": "v"})
    assert len(replaced.metadata) == 16
    assert "k0" not in replaced.metadata
