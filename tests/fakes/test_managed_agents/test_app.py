"""The transport rules: the beta header, the API key, the error envelope and request id."""

from __future__ import annotations

import re

import anthropic
import httpx
import pytest

from tests.fakes import managed_agents as fake
from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import (
    Client,
    raw_headers,
)


def test_missing_managed_agents_beta_is_rejected(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.BadRequestError, match=fake.BETA):
        anthropic_client.beta.vaults.list(extra_headers={"anthropic-beta": "files-api-2025-04-14"})


def test_every_route_needs_its_resources_beta_and_the_key(fake_api: RunningFake) -> None:
    # A resource added later is held to the same transport rules by registering it.
    routes = [
        (resource.beta, method, re.sub(r"\{[a-z_]+\}", "x_1", path))
        for resource in fake_api.state.resources
        for method, path, _ in resource.routes()
    ]
    assert len(routes) >= 33
    with httpx.Client(base_url=fake_api.base_url) as http:
        for beta, method, path in routes:
            no_beta = http.request(method, path, headers={"x-api-key": fake_api.api_key})
            no_key = http.request(method, path, headers={"anthropic-beta": beta})

            assert no_beta.status_code == 400 and beta in no_beta.json()["error"]["message"]
            assert no_key.status_code == 401, (method, path)


def test_beta_may_come_among_others(anthropic_client: Client) -> None:
    page = anthropic_client.beta.vaults.list(betas=["files-api-2025-04-14"])

    assert page.data == []


def test_wrong_api_key_is_an_authentication_error(fake_api: RunningFake) -> None:
    with (
        anthropic.Anthropic(base_url=fake_api.base_url, api_key="wrong", max_retries=0) as client,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        client.beta.vaults.list()

    assert caught.value.type == "authentication_error"


def test_x_api_key_header_is_accepted_too(fake_api: RunningFake) -> None:
    good = httpx.get(f"{fake_api.base_url}/v1/vaults", headers=raw_headers(fake_api.api_key))
    bad = httpx.get(f"{fake_api.base_url}/v1/vaults", headers=raw_headers("nope"))

    assert good.status_code == 200
    assert good.json() == {"data": [], "next_page": None}
    assert bad.status_code == 401


def test_errors_use_the_envelope_and_a_request_id(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client.beta.vaults.retrieve("vlt_missing")

    error = caught.value
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    assert error.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Vault vlt_missing not found"},
        "request_id": error.request_id,
    }


def test_unknown_paths_get_the_envelope(anthropic_client: Client) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client.get("/v1/nothing-here", cast_to=object)

    assert caught.value.type == "not_found_error"
    assert caught.value.request_id is not None
