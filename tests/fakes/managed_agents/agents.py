"""Agents: versioned configurations; an update that changes nothing keeps the version."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from tests.fakes.managed_agents import endpoints
from tests.fakes.managed_agents.agent_config import (
    McpServerIn,
    ModelIn,
    SkillIn,
    ToolIn,
    check_agent_tools,
    resolve_model,
    resolve_servers,
    resolve_skills,
    resolve_tool,
)
from tests.fakes.managed_agents.bodies import (
    Str1_256,
    Strict,
    check_metadata,
    patch_metadata,
)
from tests.fakes.managed_agents.errors import bad, conflict, not_found
from tests.fakes.managed_agents.pagination import Listing, paginate
from tests.fakes.managed_agents.query import LIST, Query
from tests.fakes.managed_agents.resource import Resource, Routes, Store, json_response
from tests.fakes.managed_agents.values import new_id, now, parse_ts, ts


class _ServiceAccountIn(Strict):
    type: Literal["service_account"]


class _AgentCreate(Strict):
    name: Str1_256
    model: ModelIn
    description: Annotated[str, StringConstraints(max_length=2048)] | None = None
    system: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    mcp_servers: list[McpServerIn] = []
    tools: list[ToolIn] = []
    skills: Annotated[list[SkillIn], Field(max_length=20)] = []
    metadata: dict[str, str] = {}
    execution_identity: _ServiceAccountIn | None = None
    multiagent: None = None


class _AgentUpdate(Strict):
    version: Annotated[int, Field(ge=1)] | None = None
    name: Str1_256 | None = None
    model: ModelIn | None = None
    description: Annotated[str, StringConstraints(max_length=2048)] | None = None
    system: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    mcp_servers: list[McpServerIn] | None = None
    tools: list[ToolIn] | None = None
    skills: Annotated[list[SkillIn], Field(max_length=20)] | None = None
    metadata: dict[str, str | None] | None = None
    execution_identity: _ServiceAccountIn | None = None
    multiagent: None = None


SESSION_AGENT_KEYS = (
    "type",
    "id",
    "version",
    "name",
    "description",
    "system",
    "model",
    "execution_identity",
    "mcp_servers",
    "tools",
    "skills",
    "multiagent",
)
_AGENT_CONFIG_KEYS = (*SESSION_AGENT_KEYS[3:], "metadata")


@dataclass
class AgentRecord:
    seq: int
    versions: list[dict[str, Any]]


class Agents(Resource):
    """``/v1/agents``: each update that changes something appends a version."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._records: dict[str, AgentRecord] = {}

    def record(self, agent_id: str) -> AgentRecord:
        record = self._records.get(agent_id)
        if record is None:
            raise not_found("Agent", agent_id)
        return record

    def create(self, body: _AgentCreate) -> dict[str, Any]:
        check_metadata(body.metadata)
        servers = resolve_servers(body.mcp_servers)
        tools = [resolve_tool(tool) for tool in body.tools]
        check_agent_tools(servers, tools)
        stamp = ts(now())
        agent: dict[str, Any] = {
            "type": "agent",
            "id": new_id("agent_"),
            "version": 1,
            "name": body.name,
            "description": body.description or None,
            "system": body.system or None,
            "model": resolve_model(body.model, None),
            "execution_identity": {"type": "service_account"},
            "mcp_servers": servers,
            "tools": tools,
            "skills": resolve_skills(body.skills),
            "metadata": dict(body.metadata),
            "multiagent": None,
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
        }
        with self.lock:
            self._records[agent["id"]] = AgentRecord(self.store.next_seq(), [agent])
        return copy.deepcopy(agent)

    def get(self, agent_id: str, version: int | None = None) -> dict[str, Any]:
        with self.lock:
            record = self.record(agent_id)
            if version is None:
                return copy.deepcopy(record.versions[-1])
            if not 1 <= version <= len(record.versions):
                raise not_found("Agent version", f"{agent_id}@{version}")
            snapshot = copy.deepcopy(record.versions[version - 1])
            snapshot["archived_at"] = record.versions[-1]["archived_at"]
            return snapshot

    def update(self, agent_id: str, body: _AgentUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        with self.lock:
            record = self.record(agent_id)
            current = record.versions[-1]
            if current["archived_at"] is not None:
                raise bad(f"Agent {agent_id} is archived and cannot be updated")
            if "version" in given:
                if body.version is None:
                    raise bad("version must be an integer >= 1 when given")
                if body.version != current["version"]:
                    raise conflict(
                        f"Agent {agent_id} is at version {current['version']}, not "
                        f"{body.version}; re-read it and retry"
                    )
            updated = copy.deepcopy(current)
            for name in ("name", "model"):
                if name in given and getattr(body, name) is None:
                    raise bad(f"{name} cannot be cleared")
            if body.name is not None:
                updated["name"] = body.name
            if body.model is not None:
                updated["model"] = resolve_model(body.model, current["model"])
            for name in ("description", "system"):
                if name in given:
                    updated[name] = getattr(body, name) or None
            if "mcp_servers" in given:
                updated["mcp_servers"] = resolve_servers(body.mcp_servers or [])
            if "tools" in given:
                updated["tools"] = [resolve_tool(tool) for tool in body.tools or []]
            if "skills" in given:
                updated["skills"] = resolve_skills(body.skills or [])
            if "metadata" in given and body.metadata is not None:
                updated["metadata"] = patch_metadata(current["metadata"], body.metadata)
            check_agent_tools(updated["mcp_servers"], updated["tools"])
            if all(updated[key] == current[key] for key in _AGENT_CONFIG_KEYS):
                return copy.deepcopy(current)
            updated["version"] = current["version"] + 1
            updated["updated_at"] = ts(now())
            record.versions.append(updated)
            return copy.deepcopy(updated)

    def list_page(
        self,
        listing: Listing,
        *,
        include_archived: bool,
        created_gte: datetime | None,
        created_lte: datetime | None,
    ) -> dict[str, Any]:
        with self.lock:
            rows = []
            for record in self._records.values():
                agent = record.versions[-1]
                created = parse_ts(agent["created_at"])
                if agent["archived_at"] is not None and not include_archived:
                    continue
                if (created_gte and created < created_gte) or (
                    created_lte and created > created_lte
                ):
                    continue
                rows.append((record.seq, agent))
            return paginate(rows, listing)

    def versions(self, agent_id: str, listing: Listing) -> dict[str, Any]:
        with self.lock:
            record = self.record(agent_id)
            archived_at = record.versions[-1]["archived_at"]
            rows = [
                (version["version"], {**version, "archived_at": archived_at})
                for version in record.versions
            ]
            return paginate(rows, listing)

    def archive(self, agent_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.record(agent_id)
            current = record.versions[-1]
            if current["archived_at"] is None:
                current["archived_at"] = ts(now())
            return copy.deepcopy(current)

    def routes(self) -> Routes:
        async def get_agent(request: Request) -> Response:
            query = Query(request, {"version"})
            version = query.integer("version", low=1)
            return json_response(self.get(request.path_params["agent_id"], version))

        async def list_agents(request: Request) -> Response:
            query = Query(request, LIST | {"created_at[gte]", "created_at[lte]"})
            times = query.times("gte", "lte")
            return json_response(
                self.list_page(
                    query.listing("agents", order="desc"),
                    include_archived=query.boolean("include_archived"),
                    created_gte=times.get("gte"),
                    created_lte=times.get("lte"),
                )
            )

        async def list_versions(request: Request) -> Response:
            query = Query(request, {"limit", "page"})
            agent_id = request.path_params["agent_id"]
            listing = query.listing(f"versions:{agent_id}", order="desc")
            return json_response(self.versions(agent_id, listing))

        agent = "/v1/agents/{agent_id}"
        return [
            ("POST", "/v1/agents", endpoints.create(self.create, _AgentCreate)),
            ("GET", "/v1/agents", list_agents),
            ("GET", agent, get_agent),
            ("POST", agent, endpoints.update(self.update, _AgentUpdate, "agent_id")),
            ("POST", agent + "/archive", endpoints.archive(self.archive, "agent_id")),
            ("GET", agent + "/versions", list_versions),
        ]
