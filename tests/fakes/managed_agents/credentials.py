"""Vault credentials: one active credential per key (MCP URL or env var name) in a vault, at
most twenty; secrets are accepted, rotated in place, purged on archive, and never returned.

``secret_for`` and ``resolve_credential`` are the platform's side, for tests: what it holds and
what it would inject for an MCP server URL; ``oauth`` refreshes and validates ``mcp_oauth``
credentials as the platform does (``oauth_refresh``).
"""

from __future__ import annotations

import copy
import json
from typing import Annotated, Any

from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tests.fakes.managed_agents import endpoints
from tests.fakes.managed_agents.bodies import (
    Strict,
    check_metadata,
    empty_body,
    parse,
    patch_metadata,
)
from tests.fakes.managed_agents.credential_auth import (
    AuthCreate,
    AuthUpdate,
    check_auth_update,
    credential_auth,
    credential_key,
    update_auth,
)
from tests.fakes.managed_agents.errors import bad, conflict, not_found
from tests.fakes.managed_agents.oauth_refresh import OAuthPlatform
from tests.fakes.managed_agents.pagination import Listing, paginate
from tests.fakes.managed_agents.query import Query
from tests.fakes.managed_agents.resource import Record, Resource, Routes, Store, json_response
from tests.fakes.managed_agents.values import new_id, normalize_mcp_url, now, ts
from tests.fakes.managed_agents.vaults import Vaults

MAX_CREDENTIALS_PER_VAULT = 20


class _CredentialCreate(Strict):
    auth: AuthCreate
    display_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    metadata: dict[str, str] = {}


class _CredentialUpdate(Strict):
    auth: AuthUpdate | None = None
    display_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    metadata: dict[str, str | None] | None = None


class Credentials(Resource):
    """``/v1/vaults/{vault_id}/credentials``, on the records ``vaults`` keeps."""

    def __init__(self, store: Store, vaults: Vaults) -> None:
        super().__init__(store)
        self.vaults = vaults
        self.oauth = OAuthPlatform(self)

    def secret_for(self, vault_id: str, credential_id: str) -> str:
        """The secret the platform holds for an active credential (token, access token or
        secret value). For tests only: it is never served over HTTP."""
        with self.lock:
            record = self.vaults.credentials.get(credential_id)
            if record is None or record.body["vault_id"] != vault_id:
                raise LookupError(f"no credential {credential_id} in vault {vault_id}")
            if record.body["archived_at"] is not None:
                raise LookupError(f"credential {credential_id} is archived; its secret is purged")
            return self.vaults.secrets[credential_id]["secret"]

    def resolve_credential(
        self, vault_ids: list[str], mcp_server_url: str
    ) -> tuple[str, dict[str, Any]] | None:
        """The credential the platform would inject for ``mcp_server_url`` in a session with
        ``vault_ids``: normalised URL match, active MCP credentials only, first vault wins."""
        wanted = normalize_mcp_url(mcp_server_url)
        with self.lock:
            for vault_id in vault_ids:
                if not self.vaults.is_live(vault_id):
                    continue
                for record in sorted(self.vaults.credentials.values(), key=lambda r: r.seq):
                    body = record.body
                    if (
                        body["vault_id"] == vault_id
                        and body["archived_at"] is None
                        and body["auth"]["type"] in ("static_bearer", "mcp_oauth")
                        and normalize_mcp_url(body["auth"]["mcp_server_url"]) == wanted
                    ):
                        return vault_id, copy.deepcopy(body)
        return None

    def record(self, vault_id: str, credential_id: str) -> Record:
        self.vaults.record(vault_id)
        record = self.vaults.credentials.get(credential_id)
        if record is None or record.body["vault_id"] != vault_id:
            raise not_found("Credential", credential_id)
        return record

    def create(self, vault_id: str, body: _CredentialCreate) -> dict[str, Any]:
        check_metadata(body.metadata)
        auth, secret = credential_auth(body.auth)
        key = credential_key(auth)
        stamp = ts(now())
        credential: dict[str, Any] = {
            "type": "vault_credential",
            "id": new_id("vcrd_"),
            "vault_id": vault_id,
            "display_name": body.display_name,
            "metadata": dict(body.metadata),
            "auth": auth,
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
        }
        with self.lock:
            vault = self.vaults.record(vault_id)
            if vault.body["archived_at"] is not None:
                raise bad(f"Vault {vault_id} is archived; credentials cannot be added")
            active = [
                record.body
                for record in self.vaults.credentials.values()
                if record.body["vault_id"] == vault_id and record.body["archived_at"] is None
            ]
            for other in active:
                if credential_key(other["auth"]) == key:
                    what = key.split(":", 1)[0]
                    value = auth["secret_name"] if what == "env" else auth["mcp_server_url"]
                    field_name = "secret_name" if what == "env" else "mcp_server_url"
                    raise conflict(
                        f"Vault {vault_id} already has an active credential {other['id']} with "
                        f"{field_name} {value!r}; archive it or update it instead"
                    )
            if len(active) >= MAX_CREDENTIALS_PER_VAULT:
                raise bad(
                    f"Vault {vault_id} already has {MAX_CREDENTIALS_PER_VAULT} active "
                    "credentials, the maximum"
                )
            self.vaults.credentials[credential["id"]] = Record(self.store.next_seq(), credential)
            self.vaults.secrets[credential["id"]] = secret
        return copy.deepcopy(credential)

    def get(self, vault_id: str, credential_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.record(vault_id, credential_id).body)

    def update(self, vault_id: str, credential_id: str, body: _CredentialUpdate) -> dict[str, Any]:
        with self.lock:
            record = self.record(vault_id, credential_id)
            current = record.body
            if current["archived_at"] is not None:
                raise bad(f"Credential {credential_id} is archived and cannot be updated")
            updated = copy.deepcopy(current)
            secret = dict(self.vaults.secrets[credential_id])
            if body.auth is not None:
                updated["auth"] = update_auth(current["auth"], body.auth, secret)
            if "display_name" in body.model_fields_set:
                updated["display_name"] = body.display_name
            if body.metadata is not None:
                updated["metadata"] = patch_metadata(current["metadata"], body.metadata)
            updated["updated_at"] = ts(now())
            record.body = updated
            self.vaults.secrets[credential_id] = secret
            return copy.deepcopy(updated)

    def list_page(
        self, vault_id: str, listing: Listing, *, include_archived: bool
    ) -> dict[str, Any]:
        with self.lock:
            self.vaults.record(vault_id)
            rows = [
                (record.seq, record.body)
                for record in self.vaults.credentials.values()
                if record.body["vault_id"] == vault_id
                and (include_archived or record.body["archived_at"] is None)
            ]
            return paginate(rows, listing)

    def archive(self, vault_id: str, credential_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.record(vault_id, credential_id)
            if record.body["archived_at"] is None:
                self.vaults.archive_credential(record, ts(now()))
            return copy.deepcopy(record.body)

    def delete(self, vault_id: str, credential_id: str) -> dict[str, Any]:
        with self.lock:
            self.record(vault_id, credential_id)
            del self.vaults.credentials[credential_id]
            self.vaults.secrets.pop(credential_id, None)
        return {"id": credential_id, "type": "vault_credential_deleted"}

    def routes(self) -> Routes:
        async def update_credential(request: Request) -> Response:
            Query(request, set())
            params = request.path_params
            raw = await request.body()
            current = self.get(params["vault_id"], params["credential_id"])
            try:
                decoded = json.loads(raw) if raw.strip() else None
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                check_auth_update(current, decoded)
            body = parse(_CredentialUpdate, raw)
            return json_response(self.update(params["vault_id"], params["credential_id"], body))

        async def validate_credential(request: Request) -> Response:
            Query(request, set())
            await empty_body(request)
            params = request.path_params
            return json_response(
                await run_in_threadpool(
                    self.oauth.validate, params["vault_id"], params["credential_id"]
                )
            )

        credentials = "/v1/vaults/{vault_id}/credentials"
        credential = credentials + "/{credential_id}"
        ids = ("vault_id", "credential_id")
        return [
            ("POST", credentials, endpoints.create(self.create, _CredentialCreate, "vault_id")),
            (
                "GET",
                credentials,
                endpoints.listing(self.list_page, "credentials:{vault_id}", "vault_id"),
            ),
            ("GET", credential, endpoints.retrieve(self.get, *ids)),
            ("POST", credential, update_credential),
            ("DELETE", credential, endpoints.delete(self.delete, *ids)),
            ("POST", credential + "/archive", endpoints.archive(self.archive, *ids)),
            ("POST", credential + "/mcp_oauth_validate", validate_credential),
        ]
