"""The test hooks on the platform's state: injected failures, serving again after an outage."""

from __future__ import annotations

import anthropic
import pytest

from tests.fakes import managed_agents as fake
from tests.fakes.server import RunningFake, serve_fake
from tests.fakes.test_managed_agents.helpers import (
    Client,
)


def test_injected_failure_hits_the_next_matching_request_only(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    rule = fake_api.state.fail_next("POST", "/v1/vaults", 500)

    with pytest.raises(anthropic.InternalServerError):
        anthropic_client.beta.vaults.create(display_name="first")
    created = anthropic_client.beta.vaults.create(display_name="second")

    assert rule.remaining == 0
    assert created.display_name == "second"


def test_rate_limit_with_retry_after_is_retried_by_default(fake_api: RunningFake) -> None:
    rule = fake_api.state.fail_next("POST", "/v1/vaults", 429, headers={"retry-after": "0.05"})

    with anthropic.Anthropic(
        base_url=fake_api.base_url, api_key=fake_api.api_key, _strict_response_validation=True
    ) as client:
        vault = client.beta.vaults.create(display_name="after-retry")

    posts = [r for r in fake_api.state.requests if (r.method, r.path) == ("POST", "/v1/vaults")]
    assert len(posts) == 2
    assert rule.remaining == 0
    assert vault.display_name == "after-retry"


def test_injected_failure_can_carry_its_own_body_and_glob(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    body = fake.error_body(401, "key revoked")
    fake_api.state.fail_next("*", "/v1/vaults*", 401, body=body, times=2)

    for _ in range(2):
        with pytest.raises(anthropic.AuthenticationError, match="key revoked"):
            anthropic_client.beta.vaults.list()
    assert anthropic_client.beta.vaults.list().data == []


def test_state_can_be_served_again_after_an_outage() -> None:
    with serve_fake() as first:
        port, state = first.port, first.state
        with Client(base_url=first.base_url, api_key=first.api_key, max_retries=0) as client:
            vault = client.beta.vaults.create(display_name="kept")

    with serve_fake(state, port=port) as second:
        assert second.base_url == first.base_url
        with Client(base_url=second.base_url, api_key=second.api_key, max_retries=0) as client:
            assert client.beta.vaults.retrieve(vault.id).display_name == "kept"
