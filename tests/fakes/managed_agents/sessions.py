"""Sessions: one agent version (or overrides of it) in an environment, with vaults.

A session pins a snapshot of its agent at creation; its status follows the events stored for it
(see :mod:`session_store`), and its user events are answered by the :class:`Player`.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from starlette.concurrency import run_in_threadpool
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
from tests.fakes.managed_agents.agents import SESSION_AGENT_KEYS, Agents
from tests.fakes.managed_agents.bodies import (
    NonEmpty,
    Strict,
    check_metadata,
    parse,
    patch_metadata,
)
from tests.fakes.managed_agents.environments import Environments
from tests.fakes.managed_agents.errors import bad, not_found
from tests.fakes.managed_agents.events import Event, UserMessageIn, user_event
from tests.fakes.managed_agents.pagination import Listing, paginate
from tests.fakes.managed_agents.player import Player
from tests.fakes.managed_agents.query import LIST, TIME_BOUNDS, Query
from tests.fakes.managed_agents.resource import Resource, Routes, json_response
from tests.fakes.managed_agents.session_store import SessionRecord, SessionStore
from tests.fakes.managed_agents.values import in_range, new_id, now, parse_ts, ts
from tests.fakes.managed_agents.vaults import Vaults


class _AgentRefIn(Strict):
    type: Literal["agent"]
    id: NonEmpty
    version: Annotated[int, Field(ge=1)] | None = None


class _AgentOverridesIn(Strict):
    type: Literal["agent_with_overrides"]
    id: NonEmpty
    version: Annotated[int, Field(ge=1)] | None = None
    model: ModelIn | None = None
    system: str | None = None
    tools: list[ToolIn] | None = None
    mcp_servers: list[McpServerIn] | None = None
    skills: list[SkillIn] | None = None


class _MoneyIn(Strict):
    amount: Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]*)$")]
    currency: Literal["USD"]


class _BudgetIn(Strict):
    type: Literal["limit"]
    max_list_cost: _MoneyIn


class _SessionCreate(Strict):
    agent: NonEmpty | Annotated[_AgentRefIn | _AgentOverridesIn, Field(discriminator="type")]
    environment_id: NonEmpty
    vault_ids: list[NonEmpty] = []
    resources: list[Any] = []
    initial_events: Annotated[list[UserMessageIn], Field(max_length=50)] = []
    title: str | None = None
    metadata: dict[str, str] = {}
    budget: _BudgetIn | None = None


class _SessionAgentUpdate(Strict):
    tools: list[ToolIn] | None = None
    mcp_servers: list[McpServerIn] | None = None


class _SessionUpdate(Strict):
    title: str | None = None
    metadata: dict[str, str | None] | None = None
    budget: _BudgetIn | None = None
    agent: _SessionAgentUpdate | None = None
    vault_ids: list[str] | None = None


class Sessions(Resource):
    """``/v1/sessions``; the events of a session are :mod:`session_events`."""

    def __init__(
        self,
        records: SessionStore,
        player: Player,
        *,
        agents: Agents,
        environments: Environments,
        vaults: Vaults,
    ) -> None:
        super().__init__(records.store)
        self.records = records
        self.player = player
        self.agents = agents
        self.environments = environments
        self.vaults = vaults

    def _agent_snapshot(self, spec: str | _AgentRefIn | _AgentOverridesIn) -> dict[str, Any]:
        agent_id = spec if isinstance(spec, str) else spec.id
        version = None if isinstance(spec, str) else spec.version
        record = self.agents.record(agent_id)
        if record.versions[-1]["archived_at"] is not None:
            raise bad(f"Agent {agent_id} is archived; sessions cannot be created from it")
        if version is not None and not 1 <= version <= len(record.versions):
            raise not_found("Agent version", f"{agent_id}@{version}")
        source = record.versions[-1 if version is None else version - 1]
        snapshot = {key: copy.deepcopy(source[key]) for key in SESSION_AGENT_KEYS}
        if isinstance(spec, _AgentOverridesIn):
            given = spec.model_fields_set
            if spec.model is not None:
                snapshot["model"] = resolve_model(spec.model, snapshot["model"])
            if "system" in given:
                snapshot["system"] = spec.system or None
            if spec.tools is not None:
                snapshot["tools"] = [resolve_tool(tool) for tool in spec.tools]
            if spec.mcp_servers is not None:
                snapshot["mcp_servers"] = resolve_servers(spec.mcp_servers)
            if spec.skills is not None:
                snapshot["skills"] = resolve_skills(spec.skills)
            check_agent_tools(snapshot["mcp_servers"], snapshot["tools"])
        return snapshot

    def create(self, body: _SessionCreate) -> tuple[dict[str, Any], list[Event]]:
        check_metadata(body.metadata)
        if "budget" in body.model_fields_set and body.budget is None:
            raise bad("budget must be an object when given; omit it for no budget")
        if body.resources:
            raise bad("resources are not supported by this fake")
        if len(set(body.vault_ids)) != len(body.vault_ids):
            raise bad("vault_ids contains duplicates")
        with self.lock:
            snapshot = self._agent_snapshot(body.agent)
            environment = self.environments.record(
                body.environment_id, error_code="environment_not_found"
            ).body
            if environment["archived_at"] is not None:
                raise bad(
                    f"Environment {body.environment_id} is archived",
                    error_code="environment_archived",
                )
            for vault_id in body.vault_ids:
                if self.vaults.record(vault_id).body["archived_at"] is not None:
                    raise bad(f"Vault {vault_id} is archived")
            stamp = ts(now())
            session: dict[str, Any] = {
                "type": "session",
                "id": new_id("sesn_"),
                "status": "idle",
                "title": body.title,
                "environment_id": body.environment_id,
                "vault_ids": list(body.vault_ids),
                "agent": snapshot,
                "metadata": dict(body.metadata),
                "resources": [],
                "outcome_evaluations": [],
                "stats": {"active_seconds": 0.0, "duration_seconds": 0.0},
                "usage": {
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "active_seconds": 0.0,
                },
                "budget": body.budget.model_dump() if body.budget is not None else None,
                "deployment_id": None,
                "created_at": stamp,
                "updated_at": stamp,
                "archived_at": None,
            }
            record = SessionRecord(
                self.store.next_seq(),
                session,
                from_overrides=isinstance(body.agent, _AgentOverridesIn),
                had_budget=body.budget is not None,
            )
            self.records.add(record)
            echoed = self.records.append(record, [user_event(e) for e in body.initial_events])
            created = copy.deepcopy(session)
            if echoed:
                # Created "running"; the stored status follows the events the platform emits.
                created["status"] = "running"
            return created, echoed

    def get(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.records.require(session_id).body)

    def update(self, session_id: str, body: _SessionUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        if "vault_ids" in given:
            raise bad("vault_ids cannot be changed after a session is created (not yet supported)")
        with self.lock:
            record = self.records.require(session_id)
            current = record.body
            if current["archived_at"] is not None:
                raise bad(f"Session {session_id} is archived and read-only")
            updated = copy.deepcopy(current)
            if "title" in given:
                updated["title"] = body.title
            if "metadata" in given and body.metadata is not None:
                updated["metadata"] = patch_metadata(current["metadata"], body.metadata)
            if "budget" in given:
                if current["status"] == "terminated":
                    raise bad("budget cannot be changed on a terminated session")
                if not record.had_budget or (body.budget is not None and current["budget"] is None):
                    raise bad("a budget can only be set when the session was created with one")
                updated["budget"] = body.budget.model_dump() if body.budget is not None else None
            if body.agent is not None:
                if record.from_overrides:
                    raise bad(
                        "agent can only be updated on sessions created from an agent reference"
                    )
                if current["status"] == "running":
                    raise bad("agent cannot be updated while the session is running")
                agent_given = body.agent.model_fields_set
                if "mcp_servers" in agent_given:
                    updated["agent"]["mcp_servers"] = resolve_servers(body.agent.mcp_servers or [])
                if "tools" in agent_given:
                    updated["agent"]["tools"] = [
                        resolve_tool(tool) for tool in body.agent.tools or []
                    ]
                check_agent_tools(updated["agent"]["mcp_servers"], updated["agent"]["tools"])
            updated["updated_at"] = ts(now())
            record.body = updated
            return copy.deepcopy(updated)

    def list_page(
        self,
        listing: Listing,
        *,
        include_archived: bool,
        agent_id: str | None,
        agent_version: int | None,
        statuses: list[str],
        created: dict[str, datetime],
        deployment_id: str | None,
        memory_store_id: str | None,
    ) -> dict[str, Any]:
        with self.lock:
            rows = []
            for record in self.records.all():
                session = record.body
                if session["archived_at"] is not None and not include_archived:
                    continue
                if agent_id is not None and session["agent"]["id"] != agent_id:
                    continue
                if agent_version is not None and session["agent"]["version"] != agent_version:
                    continue
                if statuses and session["status"] not in statuses:
                    continue
                if deployment_id is not None and session["deployment_id"] != deployment_id:
                    continue
                if memory_store_id is not None:
                    continue  # sessions here never mount memory stores
                if not in_range(parse_ts(session["created_at"]), created):
                    continue
                rows.append((record.seq, session))
            return paginate(rows, listing)

    def archive(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            body = self.records.require(session_id).body
            if body["archived_at"] is None:
                body["archived_at"] = ts(now())
            return copy.deepcopy(body)

    def delete(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            self.records.require(session_id)
            self.records.remove(session_id)
        self.records.streams.drop(session_id)
        return {"id": session_id, "type": "session_deleted"}

    def routes(self) -> Routes:
        async def create_session(request: Request) -> Response:
            Query(request, set())
            session, echoed = self.create(parse(_SessionCreate, await request.body()))
            if echoed:
                await run_in_threadpool(self.player.run, session["id"], echoed)
            return json_response(session)

        async def list_sessions(request: Request) -> Response:
            filters = {"agent_id", "agent_version", "statuses[]", "order", "deployment_id"}
            query = Query(request, LIST | TIME_BOUNDS | filters | {"memory_store_id"})
            order = query.order("desc")
            statuses = query.params.getlist("statuses[]")
            for status in statuses:
                if status not in ("idle", "running", "rescheduling", "terminated"):
                    raise bad(f"statuses[] value {status!r} is not a session status")
            agent_id = query.text("agent_id")
            agent_version = query.integer("agent_version", low=1)
            if agent_version is not None and agent_id is None:
                raise bad("agent_version only applies together with agent_id")
            return json_response(
                self.list_page(
                    query.listing("sessions", order=order, bidirectional=True),
                    include_archived=query.boolean("include_archived"),
                    agent_id=agent_id,
                    agent_version=agent_version,
                    statuses=statuses,
                    created=query.times("gt", "gte", "lt", "lte"),
                    deployment_id=query.text("deployment_id"),
                    memory_store_id=query.text("memory_store_id"),
                )
            )

        session = "/v1/sessions/{session_id}"
        return [
            ("POST", "/v1/sessions", create_session),
            ("GET", "/v1/sessions", list_sessions),
            ("GET", session, endpoints.retrieve(self.get, "session_id")),
            ("POST", session, endpoints.update(self.update, _SessionUpdate, "session_id")),
            ("DELETE", session, endpoints.delete(self.delete, "session_id")),
            ("POST", session + "/archive", endpoints.archive(self.archive, "session_id")),
        ]
