"""The fake platform: its resources, and the hooks tests drive it with.

``ManagedAgentsState`` assembles the resources (the only place that lists them) and is the
test's handle on the platform side: ``secret_for`` and ``resolve_credential`` show what the
platform would inject, ``fail_next`` injects failures, ``requests`` logs every call (method,
path, decoded query), ``on_user_message``, ``on_tool_response`` and ``emit`` script what the
agent does in a session, and ``drop_streams`` cuts open event streams.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, TypeVar

from tests.fakes.managed_agents.agents import Agents
from tests.fakes.managed_agents.credentials import Credentials
from tests.fakes.managed_agents.environments import Environments
from tests.fakes.managed_agents.events import Event
from tests.fakes.managed_agents.player import MessageHandler, Player, ToolResponseHandler
from tests.fakes.managed_agents.resource import Resource, Store
from tests.fakes.managed_agents.session_events import SessionEvents
from tests.fakes.managed_agents.session_store import SessionStore
from tests.fakes.managed_agents.sessions import Sessions
from tests.fakes.managed_agents.tunnels import Tunnels
from tests.fakes.managed_agents.vaults import Vaults

DEFAULT_API_KEY = "sk-ant-fake-0123456789"

_R = TypeVar("_R", bound=Resource)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str


@dataclass
class FailureRule:
    """One injected failure: the next ``remaining`` matching requests get ``status``."""

    method: str
    path_glob: str
    status: int
    remaining: int
    headers: dict[str, str]
    body: Any


class ManagedAgentsState:
    """Everything the fake platform holds, plus the hooks tests drive it with. Thread-safe."""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.store = Store()
        self.resources: list[Resource] = []
        self._failures: list[FailureRule] = []
        self.session_records = SessionStore(self.store)
        self.player = Player(self.session_records)
        self.handler_errors = self.player.handler_errors
        # Every resource served, one line each, in routing order.
        self.agents = self._serve(Agents(self.store))
        self.environments = self._serve(Environments(self.store))
        self.vaults = self._serve(Vaults(self.store))
        self.credentials = self._serve(Credentials(self.store, self.vaults))
        self.sessions = self._serve(
            Sessions(
                self.session_records,
                self.player,
                agents=self.agents,
                environments=self.environments,
                vaults=self.vaults,
            )
        )
        self.session_events = self._serve(SessionEvents(self.session_records, self.player))
        self.tunnels = self._serve(Tunnels(self.store))

    def _serve(self, resource: _R) -> _R:
        self.resources.append(resource)
        return resource

    # ----------------------------------------------------------------- test hooks

    def secret_for(self, vault_id: str, credential_id: str) -> str:
        """The secret the platform holds for an active credential (token, access token or
        secret value). For tests only: it is never served over HTTP."""
        return self.credentials.secret_for(vault_id, credential_id)

    def resolve_credential(
        self, vault_ids: list[str], mcp_server_url: str
    ) -> tuple[str, dict[str, Any]] | None:
        """The credential the platform would inject for ``mcp_server_url`` in a session with
        ``vault_ids``: normalised URL match, active MCP credentials only, first vault wins."""
        return self.credentials.resolve_credential(vault_ids, mcp_server_url)

    def fail_next(
        self,
        method: str,
        path_glob: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> FailureRule:
        """Answer the next ``times`` requests matching ``method`` (or ``*``) and ``path_glob``
        (fnmatch, on the path without query) with ``status``, before auth is checked. The body
        defaults to the error envelope for that status."""
        rule = FailureRule(
            method=method.upper(),
            path_glob=path_glob,
            status=status,
            remaining=times,
            headers=dict(headers or {}),
            body=body,
        )
        with self.store.lock:
            self._failures.append(rule)
        return rule

    def on_user_message(self, session_id: str | None, handler: MessageHandler) -> None:
        """Script the agent's reply to a ``user.message`` in ``session_id`` (None: any session
        without its own handler). ``handler(session, text)`` returns the events to emit after
        ``session.status_running``; without a handler the agent just ends its turn."""
        with self.store.lock:
            self.player.message_handlers[session_id] = handler

    def on_tool_response(self, session_id: str | None, handler: ToolResponseHandler) -> None:
        """Script what follows once every blocking tool use is answered: ``handler(session,
        responses)`` gets the ``user.custom_tool_result``/``user.tool_confirmation`` events
        that resolved the block and returns the events to emit after ``status_running``."""
        with self.store.lock:
            self.player.tool_handlers[session_id] = handler

    def emit(self, session_id: str, events: list[Event]) -> list[Event]:
        """Append platform events to a session (ids kept or assigned, ``processed_at`` set),
        update its status, and push them to its open streams."""
        return self.session_records.emit(session_id, events)

    def drop_streams(self, session_id: str | None = None, *, abort: bool = False) -> int:
        """End the open event streams (of one session, or all): cleanly, or with ``abort`` by
        breaking the connection mid-body. Returns how many were cut."""
        return self.session_records.streams.drop(session_id, abort=abort)

    def open_streams(self, session_id: str | None = None) -> int:
        return self.session_records.streams.count(session_id)

    def events(self, session_id: str) -> list[Event]:
        return self.session_records.events(session_id)

    # ----------------------------------------------------------------- plumbing (the app's)

    def record_request(self, method: str, path: str, query: str) -> None:
        with self.store.lock:
            self.requests.append(RecordedRequest(method, path, query))

    def take_failure(self, method: str, path: str) -> FailureRule | None:
        with self.store.lock:
            for rule in self._failures:
                if (
                    rule.remaining > 0
                    and rule.method in ("*", method)
                    and fnmatch.fnmatchcase(path, rule.path_glob)
                ):
                    rule.remaining -= 1
                    return rule
        return None
