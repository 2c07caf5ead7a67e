"""Environments: where sessions run; names are unique among live ones, the config type is fixed."""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import Field

from tests.fakes.managed_agents import endpoints
from tests.fakes.managed_agents.bodies import (
    Str1_256,
    Strict,
    check_metadata,
    patch_metadata,
)
from tests.fakes.managed_agents.errors import bad, conflict
from tests.fakes.managed_agents.resource import Collection, Routes
from tests.fakes.managed_agents.values import new_id, now, ts


class _PackagesIn(Strict):
    type: Literal["packages"] | None = None
    apt: list[str] | None = None
    cargo: list[str] | None = None
    gem: list[str] | None = None
    go: list[str] | None = None
    npm: list[str] | None = None
    pip: list[str] | None = None


class _UnrestrictedIn(Strict):
    type: Literal["unrestricted"]


class _LimitedNetworkIn(Strict):
    type: Literal["limited"]
    allowed_hosts: list[str] | None = None
    allow_mcp_servers: bool | None = None
    allow_package_managers: bool | None = None


class _CloudConfigIn(Strict):
    type: Literal["cloud"]
    networking: (
        Annotated[_UnrestrictedIn | _LimitedNetworkIn, Field(discriminator="type")] | None
    ) = None
    packages: _PackagesIn | None = None


class _SelfHostedIn(Strict):
    type: Literal["self_hosted"]


_EnvConfigIn = Annotated[_CloudConfigIn | _SelfHostedIn, Field(discriminator="type")]


class _EnvironmentCreate(Strict):
    name: Str1_256
    config: _EnvConfigIn | None = None
    description: str | None = None
    metadata: dict[str, str] = {}
    scope: Literal["organization", "account"] | None = None


class _EnvironmentUpdate(Strict):
    name: Str1_256 | None = None
    config: _EnvConfigIn | None = None
    description: str | None = None
    metadata: dict[str, str | None] | None = None
    scope: Literal["organization", "account"] | None = None


def _environment_config(
    config: _CloudConfigIn | _SelfHostedIn | None, current: dict[str, Any] | None
) -> dict[str, Any]:
    if config is None:
        config = _CloudConfigIn(type="cloud")
    if current is not None and current["type"] != config.type:
        raise bad(
            f"config.type cannot change from {current['type']} to {config.type}",
            error_code="invalid_config_type_change",
        )
    if isinstance(config, _SelfHostedIn):
        return {"type": "self_hosted"}
    previous_net = current["networking"] if current is not None else {"type": "unrestricted"}
    networking = dict(previous_net)
    if config.networking is not None:
        if isinstance(config.networking, _UnrestrictedIn):
            networking = {"type": "unrestricted"}
        else:
            base = previous_net if previous_net["type"] == "limited" else {}
            given = config.networking
            networking = {
                "type": "limited",
                "allowed_hosts": list(
                    given.allowed_hosts
                    if given.allowed_hosts is not None
                    else base.get("allowed_hosts", [])
                ),
                "allow_mcp_servers": (
                    given.allow_mcp_servers
                    if given.allow_mcp_servers is not None
                    else base.get("allow_mcp_servers", False)
                ),
                "allow_package_managers": (
                    given.allow_package_managers
                    if given.allow_package_managers is not None
                    else base.get("allow_package_managers", False)
                ),
            }
    managers = ("apt", "cargo", "gem", "go", "npm", "pip")
    previous_packages = current["packages"] if current is not None else {}
    packages: dict[str, Any] = {"type": "packages"}
    for manager in managers:
        value = getattr(config.packages, manager) if config.packages is not None else None
        packages[manager] = list(value if value is not None else previous_packages.get(manager, []))
    if (
        networking["type"] == "limited"
        and any(packages[m] for m in managers)
        and not networking["allow_package_managers"]
    ):
        raise bad("packages under limited networking need networking.allow_package_managers=true")
    return {"type": "cloud", "networking": networking, "packages": packages}


class Environments(Collection):
    """``/v1/environments``."""

    kind = "Environment"

    def _check_name(self, name: str, *, exclude: str | None = None) -> None:
        for record in self._records.values():
            body = record.body
            if body["id"] != exclude and body["archived_at"] is None and body["name"] == name:
                raise conflict(f"an environment named {name!r} already exists ({body['id']})")

    def create(self, body: _EnvironmentCreate) -> dict[str, Any]:
        check_metadata(body.metadata)
        if body.scope == "account":
            raise bad("scope 'account' is not supported for API organizations")
        config = _environment_config(body.config, None)
        stamp = ts(now())
        environment: dict[str, Any] = {
            "type": "environment",
            "id": new_id("env_"),
            "name": body.name,
            "description": body.description,
            "scope": "organization",
            "metadata": dict(body.metadata),
            "config": config,
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
        }
        with self.lock:
            self._check_name(body.name)
            self.add(environment)
        return copy.deepcopy(environment)

    def update(self, env_id: str, body: _EnvironmentUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        with self.lock:
            record = self.record(env_id)
            current = record.body
            if current["archived_at"] is not None:
                raise bad(f"Environment {env_id} is archived", error_code="environment_archived")
            updated = copy.deepcopy(current)
            if "name" in given:
                if body.name is None:
                    raise bad("name cannot be cleared")
                self._check_name(body.name, exclude=env_id)
                updated["name"] = body.name
            if "description" in given:
                updated["description"] = body.description
            if "metadata" in given:
                if body.metadata is None:
                    raise bad("metadata must be an object")
                updated["metadata"] = patch_metadata(
                    current["metadata"], body.metadata, empty_deletes=True
                )
            if "scope" in given and body.scope == "account":
                raise bad("scope 'account' is not supported for API organizations")
            if body.config is not None:
                updated["config"] = _environment_config(body.config, current["config"])
            if updated != current:
                updated["updated_at"] = ts(now())
            record.body = updated
            return copy.deepcopy(updated)

    def archive(self, env_id: str) -> dict[str, Any]:
        with self.lock:
            body = self.record(env_id).body
            if body["archived_at"] is None:
                body["archived_at"] = ts(now())
            return copy.deepcopy(body)

    def delete(self, env_id: str) -> dict[str, Any]:
        with self.lock:
            self.record(env_id)
            del self._records[env_id]
        return {"id": env_id, "type": "environment_deleted"}

    def routes(self) -> Routes:
        env = "/v1/environments/{environment_id}"
        return [
            ("POST", "/v1/environments", endpoints.create(self.create, _EnvironmentCreate)),
            ("GET", "/v1/environments", endpoints.listing(self.list_page, "environments")),
            ("GET", env, endpoints.retrieve(self.get, "environment_id")),
            ("POST", env, endpoints.update(self.update, _EnvironmentUpdate, "environment_id")),
            ("DELETE", env, endpoints.delete(self.delete, "environment_id")),
            ("POST", env + "/archive", endpoints.archive(self.archive, "environment_id")),
        ]
