"""Vaults: named holders of credentials; archiving or deleting one takes its credentials along.

The credential records and their secrets are kept here, apart from each other (a secret is never
serialised); :mod:`credentials` holds their rules and routes.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.managed_agents import endpoints
from tests.fakes.managed_agents.bodies import (
    Str1_255,
    Strict,
    check_metadata,
    patch_metadata,
)
from tests.fakes.managed_agents.errors import bad
from tests.fakes.managed_agents.resource import Collection, Record, Routes, Store
from tests.fakes.managed_agents.values import new_id, now, ts


class _VaultCreate(Strict):
    display_name: Str1_255
    metadata: dict[str, str] = {}


class _VaultUpdate(Strict):
    display_name: Str1_255 | None = None
    metadata: dict[str, str | None] | None = None


class Vaults(Collection):
    """``/v1/vaults``, and the store of every vault's credentials (records and secrets)."""

    kind = "Vault"

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.credentials: dict[str, Record] = {}
        self.secrets: dict[str, dict[str, str]] = {}

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
            self.add(vault)
        return copy.deepcopy(vault)

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
        vault = "/v1/vaults/{vault_id}"
        return [
            ("POST", "/v1/vaults", endpoints.create(self.create, _VaultCreate)),
            ("GET", "/v1/vaults", endpoints.listing(self.list_page, "vaults")),
            ("GET", vault, endpoints.retrieve(self.get, "vault_id")),
            ("POST", vault, endpoints.update(self.update, _VaultUpdate, "vault_id")),
            ("DELETE", vault, endpoints.delete(self.delete, "vault_id")),
            ("POST", vault + "/archive", endpoints.archive(self.archive, "vault_id")),
        ]
