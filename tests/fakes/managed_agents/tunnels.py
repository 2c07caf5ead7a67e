"""MCP tunnels (beta ``mcp-tunnels-2026-06-22``): tunnels, their connector token, their CA certs.

The rules of ``shared/reference/managed-agents-api.md`` §10 and the SDK's docstrings: create is
not idempotent (a fresh ``domain`` every time, never reused); a tunnel holds at most two
non-archived CA certificates, each one PEM certificate of at most 8 KB with no private key,
checked the way the docs' certificate requirements say (CA:TRUE critical, a subject key id,
keyCertSign, within validity, RSA >= 2048 or EC >= P-256, SHA-256 or stronger); archiving a
tunnel is irreversible, archives its certificates and invalidates its token, and archiving again
returns the record unchanged; the token is revealed (the same value until rotated) and rotated
with POST. Tunnels are workspace-scoped: the workspace is the ``anthropic-workspace-id`` header,
else the API key's (:data:`DEFAULT_WORKSPACE`); a tunnel of another workspace is a 404.

Choices where the docs are silent: a third certificate is a 409 (like the other conflicts), the
org limit of 10 active tunnels a 400, a token or certificate call on an archived tunnel a 400.
:meth:`Tunnels.route` is the platform side of the traffic itself: whether a request for an MCP
URL would reach the connector, with a given server certificate, and why not.
"""

from __future__ import annotations

import copy
import secrets
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from tests.fakes.managed_agents.bodies import Str1_255, Strict, empty_body, parse
from tests.fakes.managed_agents.errors import bad, conflict, not_found
from tests.fakes.managed_agents.pagination import Listing, paginate
from tests.fakes.managed_agents.query import LIST, Query
from tests.fakes.managed_agents.resource import Record, Resource, Routes, Store, json_response
from tests.fakes.managed_agents.tunnel_certificates import (
    TrafficRefused,
    check_ca_pem,
    check_server_certificate,
    fingerprint,
)
from tests.fakes.managed_agents.values import new_id, now, ts

TUNNELS_BETA = "mcp-tunnels-2026-06-22"
DEFAULT_WORKSPACE = "wrkspc_default"
DOMAIN_SUFFIX = "tunnel.anthropic.com"
MAX_ACTIVE_TUNNELS = 10
MAX_ACTIVE_CERTIFICATES = 2
MAX_LIST = 1000


class _TunnelCreate(Strict):
    display_name: Str1_255 | None = None


class _RotateToken(Strict):
    reason: str | None = None


class _CertificateCreate(Strict):
    ca_certificate_pem: str = Field(min_length=1)


class Tunnels(Resource):
    """``/v1/tunnels`` and ``/v1/tunnels/{id}/certificates``."""

    beta = TUNNELS_BETA

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._tunnels: dict[str, Record] = {}
        self._workspace: dict[str, str] = {}
        self._tokens: dict[str, tuple[str, str]] = {}  # tunnel id -> (token id, value)
        self._certificates: dict[str, Record] = {}
        self._pems: dict[str, x509.Certificate] = {}
        self.token_rotations = 0  # how many times rotate_token was called (for tests)

    # ------------------------------------------------------------------ tunnels

    def _tunnel(self, tunnel_id: str, workspace: str) -> Record:
        record = self._tunnels.get(tunnel_id)
        if record is None or self._workspace[tunnel_id] != workspace:
            raise not_found("Tunnel", tunnel_id)
        return record

    def _live_tunnel(self, tunnel_id: str, workspace: str) -> Record:
        record = self._tunnel(tunnel_id, workspace)
        if record.body["archived_at"] is not None:
            raise bad(f"Tunnel {tunnel_id} is archived")
        return record

    def create(self, workspace: str, body: _TunnelCreate) -> dict[str, Any]:
        with self.lock:
            active = sum(1 for r in self._tunnels.values() if r.body["archived_at"] is None)
            if active >= MAX_ACTIVE_TUNNELS:
                raise bad(f"the organization already has {active} active tunnels (at most 10)")
            tunnel_id = new_id("tnl_")
            tunnel = {
                "type": "tunnel",
                "id": tunnel_id,
                "display_name": body.display_name,
                "domain": f"{secrets.token_hex(4)}.{DOMAIN_SUFFIX}",
                "created_at": ts(now()),
                "archived_at": None,
            }
            self._tunnels[tunnel_id] = Record(self.store.next_seq(), tunnel)
            self._workspace[tunnel_id] = workspace
            self._tokens[tunnel_id] = _new_token()
            return copy.deepcopy(tunnel)

    def retrieve(self, workspace: str, tunnel_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._tunnel(tunnel_id, workspace).body)

    def list_page(self, workspace: str, listing: Listing, include_archived: bool) -> dict[str, Any]:
        with self.lock:
            rows = [
                (record.seq, record.body)
                for tunnel_id, record in self._tunnels.items()
                if self._workspace[tunnel_id] == workspace
                and (include_archived or record.body["archived_at"] is None)
            ]
            return paginate(rows, listing)

    def archive(self, workspace: str, tunnel_id: str) -> dict[str, Any]:
        with self.lock:
            body = self._tunnel(tunnel_id, workspace).body
            if body["archived_at"] is None:
                stamp = ts(now())
                body["archived_at"] = stamp
                for record in self._certificates.values():
                    cert = record.body
                    if cert["tunnel_id"] == tunnel_id and cert["archived_at"] is None:
                        cert["archived_at"] = stamp
                self._tokens.pop(tunnel_id, None)
            return copy.deepcopy(body)

    def reveal_token(self, workspace: str, tunnel_id: str) -> dict[str, Any]:
        with self.lock:
            self._live_tunnel(tunnel_id, workspace)
            token_id, value = self._tokens[tunnel_id]
            return {"type": "tunnel_token", "id": token_id, "tunnel_token": value}

    def rotate_token(self, workspace: str, tunnel_id: str, body: _RotateToken) -> dict[str, Any]:
        with self.lock:
            self._live_tunnel(tunnel_id, workspace)
            self._tokens[tunnel_id] = _new_token()
            self.token_rotations += 1
            token_id, value = self._tokens[tunnel_id]
            return {"type": "tunnel_token", "id": token_id, "tunnel_token": value}

    # ------------------------------------------------------------------ certificates

    def _certificate(self, workspace: str, tunnel_id: str, certificate_id: str) -> Record:
        self._tunnel(tunnel_id, workspace)
        record = self._certificates.get(certificate_id)
        if record is None or record.body["tunnel_id"] != tunnel_id:
            raise not_found("Tunnel certificate", certificate_id)
        return record

    def _active_certificates(self, tunnel_id: str) -> list[Record]:
        return [
            record
            for record in self._certificates.values()
            if record.body["tunnel_id"] == tunnel_id and record.body["archived_at"] is None
        ]

    def add_certificate(
        self, workspace: str, tunnel_id: str, body: _CertificateCreate
    ) -> dict[str, Any]:
        certificate = check_ca_pem(body.ca_certificate_pem)
        with self.lock:
            self._live_tunnel(tunnel_id, workspace)
            if len(self._active_certificates(tunnel_id)) >= MAX_ACTIVE_CERTIFICATES:
                raise conflict(
                    f"Tunnel {tunnel_id} already holds {MAX_ACTIVE_CERTIFICATES} non-archived "
                    "certificates; archive one first"
                )
            expires = certificate.not_valid_after_utc
            record = {
                "type": "tunnel_certificate",
                "id": new_id("tcrt_"),
                "tunnel_id": tunnel_id,
                "fingerprint": fingerprint(certificate),
                "created_at": ts(now()),
                "expires_at": ts(expires),
                "archived_at": None,
            }
            self._certificates[record["id"]] = Record(self.store.next_seq(), record)
            self._pems[record["id"]] = certificate
            return copy.deepcopy(record)

    def certificate(self, workspace: str, tunnel_id: str, certificate_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._certificate(workspace, tunnel_id, certificate_id).body)

    def certificate_page(
        self, workspace: str, tunnel_id: str, listing: Listing, include_archived: bool
    ) -> dict[str, Any]:
        with self.lock:
            self._tunnel(tunnel_id, workspace)
            rows = [
                (record.seq, record.body)
                for record in self._certificates.values()
                if record.body["tunnel_id"] == tunnel_id
                and (include_archived or record.body["archived_at"] is None)
            ]
            return paginate(rows, listing)

    def archive_certificate(
        self, workspace: str, tunnel_id: str, certificate_id: str
    ) -> dict[str, Any]:
        with self.lock:
            body = self._certificate(workspace, tunnel_id, certificate_id).body
            if body["archived_at"] is None:
                body["archived_at"] = ts(now())
            return copy.deepcopy(body)

    # ------------------------------------------------------------------ test hooks

    def token_of(self, tunnel_id: str) -> str | None:
        """The token a connector must present now (None once the tunnel is archived)."""
        with self.lock:
            found = self._tokens.get(tunnel_id)
            return found[1] if found else None

    def tunnel_ids(self, *, workspace: str | None = None) -> list[str]:
        with self.lock:
            return [t for t, w in self._workspace.items() if workspace in (None, w)]

    def active_certificates(self, tunnel_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(r.body) for r in self._active_certificates(tunnel_id)]

    def route(self, url: str, server_chain_pem: str, *, at: datetime | None = None) -> str:
        """The tunnel a request for ``url`` goes through when the proxy presents
        ``server_chain_pem``; TrafficRefused says why the platform would not send it."""
        from urllib.parse import urlsplit

        host = (urlsplit(url).hostname or "").lower()
        moment = at or datetime.now(UTC)
        with self.lock:
            tunnel = next(
                (
                    r.body
                    for r in self._tunnels.values()
                    if r.body["archived_at"] is None and host.endswith("." + r.body["domain"])
                ),
                None,
            )
            if tunnel is None:
                raise TrafficRefused(f"no active tunnel serves {host}")
            active = self._active_certificates(tunnel["id"])
            if not active:
                raise TrafficRefused(
                    f"tunnel {tunnel['id']} has no CA certificate: it refuses MCP traffic"
                )
            cas = [self._pems[r.body["id"]] for r in active]
        server = x509.load_pem_x509_certificates(server_chain_pem.encode())[0]
        check_server_certificate(server, cas, host, moment)
        return str(tunnel["id"])

    # ------------------------------------------------------------------ routes

    def routes(self) -> Routes:
        tunnel = "/v1/tunnels/{tunnel_id}"
        certificates = tunnel + "/certificates"
        certificate = certificates + "/{certificate_id}"
        ids = ("tunnel_id",)
        return [
            ("POST", "/v1/tunnels", self._endpoint(self.create, _TunnelCreate)),
            ("GET", "/v1/tunnels", self._listing(self.list_page)),
            ("GET", tunnel, self._endpoint(self.retrieve, None, "tunnel_id", read=True)),
            ("POST", tunnel + "/archive", self._endpoint(self.archive, None, "tunnel_id")),
            ("POST", tunnel + "/reveal_token", self._endpoint(self.reveal_token, None, *ids)),
            (
                "POST",
                tunnel + "/rotate_token",
                self._endpoint(self.rotate_token, _RotateToken, "tunnel_id"),
            ),
            (
                "POST",
                certificates,
                self._endpoint(self.add_certificate, _CertificateCreate, "tunnel_id"),
            ),
            ("GET", certificates, self._listing(self.certificate_page, "tunnel_id")),
            (
                "GET",
                certificate,
                self._endpoint(self.certificate, None, "tunnel_id", "certificate_id", read=True),
            ),
            (
                "POST",
                certificate + "/archive",
                self._endpoint(self.archive_certificate, None, "tunnel_id", "certificate_id"),
            ),
        ]

    def _endpoint(
        self, handler: Any, body: type[Strict] | None, *params: str, read: bool = False
    ) -> Any:
        async def endpoint(request: Request) -> Response:
            Query(request, set())
            ids = [request.path_params[name] for name in params]
            if body is not None:
                raw = await request.body()
                parsed = parse(body, raw if raw.strip() else b"{}")
                return json_response(handler(_workspace_of(request), *ids, parsed))
            if not read:
                await empty_body(request)
            return json_response(handler(_workspace_of(request), *ids))

        return endpoint

    def _listing(self, handler: Any, *params: str) -> Any:
        async def endpoint(request: Request) -> Response:
            query = Query(request, LIST)
            ids = [request.path_params[name] for name in params]
            limit = query.integer("limit", low=1, high=MAX_LIST) or 20
            scope = "tunnels:" + ":".join(ids)
            listing = Listing(scope, limit, query.text("page"), "desc")
            include = query.boolean("include_archived")
            return json_response(handler(_workspace_of(request), *ids, listing, include))

        return endpoint


def _workspace_of(request: Request) -> str:
    return request.headers.get("anthropic-workspace-id") or DEFAULT_WORKSPACE


def _new_token() -> tuple[str, str]:
    return new_id("ttok_"), "eyJ" + secrets.token_urlsafe(48)
