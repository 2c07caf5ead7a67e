"""MCP tunnels in the fake: the SDK's calls, the API's limits, and the traffic check."""

from __future__ import annotations

import anthropic
import httpx2
import pytest

from bridge.tunnel import certificates
from tests.fakes.managed_agents.tunnels import DEFAULT_WORKSPACE, TrafficRefused
from tests.fakes.server import RunningFake
from tests.fakes.test_managed_agents.helpers import Client


def _ca_pem() -> str:
    return certificates.generate("x.example").ca_cert_pem


def test_create_is_not_idempotent_and_lists_newest_first(anthropic_client: Client) -> None:
    first = anthropic_client.beta.tunnels.create(display_name="office")
    second = anthropic_client.beta.tunnels.create(display_name="office")

    assert first.id != second.id and first.domain != second.domain
    assert first.id.startswith("tnl_") and first.domain.endswith(".tunnel.anthropic.com")
    listed = [t.id for t in anthropic_client.beta.tunnels.list(limit=1000)]
    assert listed == [second.id, first.id]
    assert anthropic_client.beta.tunnels.retrieve(first.id) == first


def test_a_tunnel_of_another_workspace_is_not_found(anthropic_client: Client) -> None:
    tunnel = anthropic_client.beta.tunnels.create(display_name="office", workspace_id="wrkspc_a")

    with pytest.raises(anthropic.NotFoundError, match="Tunnel"):
        anthropic_client.beta.tunnels.retrieve(tunnel.id)
    assert list(anthropic_client.beta.tunnels.list()) == []
    found = anthropic_client.beta.tunnels.retrieve(tunnel.id, workspace_id="wrkspc_a")
    assert found.id == tunnel.id


def test_the_token_is_the_same_until_rotated(fake_api: RunningFake, anthropic_client: Client):
    tunnel = anthropic_client.beta.tunnels.create()
    revealed = anthropic_client.beta.tunnels.reveal_token(tunnel.id)

    assert anthropic_client.beta.tunnels.reveal_token(tunnel.id) == revealed
    rotated = anthropic_client.beta.tunnels.rotate_token(tunnel.id, reason="test")
    assert rotated.id != revealed.id and rotated.tunnel_token != revealed.tunnel_token
    assert anthropic_client.beta.tunnels.reveal_token(tunnel.id) == rotated
    assert fake_api.state.tunnels.token_of(tunnel.id) == rotated.tunnel_token
    assert fake_api.state.tunnels.token_rotations == 1


def test_at_most_two_certificates_are_live(anthropic_client: Client) -> None:
    certs = anthropic_client.beta.tunnels.certificates
    tunnel = anthropic_client.beta.tunnels.create()
    first = certs.create(tunnel.id, ca_certificate_pem=_ca_pem())
    certs.create(tunnel.id, ca_certificate_pem=_ca_pem())

    with pytest.raises(anthropic.ConflictError, match="archive one first"):
        certs.create(tunnel.id, ca_certificate_pem=_ca_pem())
    archived = certs.archive(first.id, tunnel_id=tunnel.id)
    assert archived.archived_at is not None
    assert certs.archive(first.id, tunnel_id=tunnel.id) == archived
    third = certs.create(tunnel.id, ca_certificate_pem=_ca_pem())
    assert len(list(certs.list(tunnel.id))) == 2
    assert len(list(certs.list(tunnel.id, include_archived=True))) == 3
    assert certs.retrieve(third.id, tunnel_id=tunnel.id) == third


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        pytest.param(lambda b: b.ca_cert_pem + "A" * 8192, "at most 8 KB", id="too-big"),
        pytest.param(lambda b: b.ca_key_pem + b.ca_cert_pem, "private-key", id="private-key"),
        pytest.param(lambda b: b.ca_cert_pem * 2, "exactly one", id="two-certs"),
        pytest.param(lambda b: b.server_cert_pem, "CA:TRUE", id="not-a-ca"),
        pytest.param(lambda b: "hello", "exactly one", id="not-pem"),
    ],
)
def test_a_certificate_the_api_refuses(anthropic_client: Client, pem, message: str) -> None:
    tunnel = anthropic_client.beta.tunnels.create()
    bundle = certificates.generate("x.example")

    with pytest.raises(anthropic.BadRequestError, match=message):
        anthropic_client.beta.tunnels.certificates.create(tunnel.id, ca_certificate_pem=pem(bundle))


def test_archive_is_irreversible(fake_api: RunningFake, anthropic_client: Client) -> None:
    tunnel = anthropic_client.beta.tunnels.create(display_name="gone")
    certs = anthropic_client.beta.tunnels.certificates
    cert = certs.create(tunnel.id, ca_certificate_pem=_ca_pem())
    archived = anthropic_client.beta.tunnels.archive(tunnel.id)

    assert archived.archived_at is not None
    assert anthropic_client.beta.tunnels.archive(tunnel.id) == archived
    again = anthropic_client.beta.tunnels.certificates.retrieve(cert.id, tunnel_id=tunnel.id)
    assert again.archived_at is not None
    assert fake_api.state.tunnels.token_of(tunnel.id) is None
    with pytest.raises(anthropic.BadRequestError, match="archived"):
        anthropic_client.beta.tunnels.reveal_token(tunnel.id)
    with pytest.raises(anthropic.BadRequestError, match="archived"):
        anthropic_client.beta.tunnels.certificates.create(tunnel.id, ca_certificate_pem=_ca_pem())
    assert list(anthropic_client.beta.tunnels.list()) == []
    assert [t.id for t in anthropic_client.beta.tunnels.list(include_archived=True)] == [tunnel.id]
    fresh = anthropic_client.beta.tunnels.create(display_name="gone")
    assert fresh.domain != tunnel.domain


def test_a_new_tunnel_refuses_traffic_until_a_certificate_is_added(
    fake_api: RunningFake, anthropic_client: Client
) -> None:
    tunnels = fake_api.state.tunnels
    tunnel = anthropic_client.beta.tunnels.create()
    bundle = certificates.generate(tunnel.domain)
    url = f"https://inhouse.{tunnel.domain}/mcp"

    with pytest.raises(TrafficRefused, match="no CA certificate"):
        tunnels.route(url, bundle.server_cert_pem)
    cert = anthropic_client.beta.tunnels.certificates.create(
        tunnel.id, ca_certificate_pem=bundle.ca_cert_pem
    )
    assert tunnels.route(url, bundle.server_cert_pem) == tunnel.id
    other = certificates.generate(tunnel.domain)
    with pytest.raises(TrafficRefused, match="tls handshake failed"):
        tunnels.route(url, other.server_cert_pem)
    with pytest.raises(TrafficRefused, match="no active tunnel"):
        tunnels.route("https://inhouse.elsewhere.example/mcp", bundle.server_cert_pem)
    anthropic_client.beta.tunnels.certificates.archive(cert.id, tunnel_id=tunnel.id)
    with pytest.raises(TrafficRefused, match="no CA certificate"):
        tunnels.route(url, bundle.server_cert_pem)


def test_tunnel_calls_need_their_beta_and_known_query(fake_api: RunningFake) -> None:
    headers = {"x-api-key": fake_api.api_key, "anthropic-beta": "managed-agents-2026-04-01"}
    wrong_beta = httpx2.get(f"{fake_api.base_url}/v1/tunnels", headers=headers)
    headers["anthropic-beta"] = "mcp-tunnels-2026-06-22"
    too_many = httpx2.get(f"{fake_api.base_url}/v1/tunnels?limit=1001", headers=headers)
    unknown = httpx2.post(f"{fake_api.base_url}/v1/tunnels", headers=headers, json={"name": "x"})

    assert wrong_beta.status_code == 400 and "mcp-tunnels-2026-06-22" in wrong_beta.text
    assert too_many.status_code == 400 and "limit" in too_many.text
    assert unknown.status_code == 400 and "name" in unknown.text
    assert fake_api.state.tunnels.tunnel_ids(workspace=DEFAULT_WORKSPACE) == []
