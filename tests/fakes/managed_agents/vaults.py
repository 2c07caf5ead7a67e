"""Vaults: named holders of credentials; archiving or deleting one takes its credentials along.

The credential records and their secrets are kept here, apart from each other (a secret is never
serialised); :mod:`credentials` holds their rules and routes.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tests.fakes.managed_agents.bodies import (
    Str1_255,
    Strict,
    check_metadata,
    empty_body,
    parse,
    patch_metadata,
)
from tests.fakes.managed_agents.errors import bad, not_found
from tests.fakes.managed_agents.pagination import Listing, paginate
from tests.fakes.managed_agents.query import LIST, Query
from tests.fakes.managed_agents.resource import Record, Resource, Routes, Store, json_response
from tests.fakes.managed_agents.values import new_id, now, ts


class _VaultCreate(Strict):
    display_name: Str1_255
    metadata: dict[str, str] = {}


class _VaultUpdate(Strict):
    display_name: Str1_255 | None = None
    metadata: dict[str, str | None] | None = None


class Vaults(Resource):
    """``/v1/vaults``, and the store of every vault's credentials (records and secrets)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._records: dict[str, Record] = {}
        self.credentials: dict[str, Record] = {}
        self.secrets: dict[str, dict[str, str]] = {}

    def record(self, vault_id: str) -> Record:
        record = self._records.get(vault_id)
        if record is None:
            raise not_found("Vault", vault_id)
        return record

    def create(self, body: _VaultCreate) -> dict[str, Any]:
        check_metadata(body.metadata)
        stamp = ts(now())
        vault: dict[str, Any] = {
            "type": "vault",
            "id": new_id("vlt_"),
            "display_name": body.display_name,
            "metadata": dict(body.metadata),
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
        }
        with self.lock:
            self._records[vault["id"]] = Record(self.store.next_seq(), vault)
        return copy.deepcopy(vault)

    def get(self, vault_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.record(vault_id).body)

    def update(self, vault_id: str, body: _VaultUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        with self.lock:
            record = self.record(vault_id)
            if record.body["archived_at"] is not None:
                raise bad(f"Vault {vault_id} is archived and cannot be updated")
            updated = copy.deepcopy(record.body)
            if "display_name" in given:
                if body.display_name is None:
                    raise bad("display_name cannot be cleared")
                updated["display_name"] = body.display_name
            if body.metadata is not None:
                updated["metadata"] = patch_metadata(updated["metadata"], body.metadata)
            if updated != record.body:
                updated["updated_at"] = ts(now())
            record.body = updated
            return copy.deepcopy(updated)

    def list_page(self, listing: Listing, *, include_archived: bool) -> dict[str, Any]:
        with self.lock:
            rows = [
                (record.seq, record.body)
                for record in self._records.values()
                if include_archived or record.body["archived_at"] is None
            ]
            return paginate(rows, listing)

    def archive(self, vault_id: str) -> dict[str, Any]:
        with self.lock:
            body = self.record(vault_id).body
            if body["archived_at"] is None:
                stamp = ts(now())
                body["archived_at"] = stamp
                for record in self.credentials.values():
                    if record.body["vault_id"] == vault_id and record.body["archived_at"] is None:
                        self.archive_credential(record, stamp)
            return copy.deepcopy(body)

    def is_live(self, vault_id: str) -> bool:
        record = self._records.get(vault_id)
        return record is not None and record.body["archived_at"] is None

    def delete(self, vault_id: str) -> dict[str, Any]:
        with self.lock:
            self.record(vault_id)
            del self._records[vault_id]
            for cred_id in [
                c for c, r in self.credentials.items() if r.body["vault_id"] == vault_id
            ]:
                del self.credentials[cred_id]
                self.secrets.pop(cred_id, None)
        return {"id": vault_id, "type": "vault_deleted"}

    def archive_credential(self, record: Record, stamp: str) -> None:
        record.body["archived_at"] = stamp
        self.secrets.pop(record.body["id"], None)

    def routes(self) -> Routes:
        async def create_vault(request: Request) -> Response:
            Query(request, set())
            return json_response(self.create(parse(_VaultCreate, await request.body())))

        async def get_vault(request: Request) -> Response:
            Query(request, set())
            return json_response(self.get(request.path_params["vault_id"]))

        async def update_vault(request: Request) -> Response:
            Query(request, set())
            body = parse(_VaultUpdate, await request.body())
            return json_response(self.update(request.path_params["vault_id"], body))

        async def list_vaults(request: Request) -> Response:
            query = Query(request, LIST)
            return json_response(
                self.list_page(
                    query.listing("vaults", order="desc"),
                    include_archived=query.boolean("include_archived"),
                )
            )

        async def archive_vault(request: Request) -> Response:
            Query(request, set())
            await empty_body(request)
            return json_response(self.archive(request.path_params["vault_id"]))

        async def delete_vault(request: Request) -> Response:
            Query(request, set())
            return json_response(self.delete(request.path_params["vault_id"]))

        vault = "/v1/vaults/{vault_id}"
        return [
            ("POST", "/v1/vaults", create_vault),
            ("GET", "/v1/vaults", list_vaults),
            ("GET", vault, get_vault),
            ("POST", vault, update_vault),
            ("DELETE", vault, delete_vault),
            ("POST", vault + "/archive", archive_vault),
        ]
