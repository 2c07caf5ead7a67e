"""Query strings: unknown parameters and out-of-range limits are refused."""

from __future__ import annotations

import anthropic
import pytest

from tests.fakes.test_managed_agents.helpers import (
    Client,
)


def test_unknown_query_parameter_is_rejected(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.BadRequestError, match="colour"):
        anthropic_client.beta.vaults.list(extra_query={"colour": "red"})


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_out_of_range_is_rejected(anthropic_client: Client, limit: int) -> None:
    with pytest.raises(anthropic.BadRequestError, match="limit"):
        anthropic_client.beta.vaults.list(limit=limit)
