"""The sessions' records: each session's body, its event log, and what its tool uses await.

Storing an event moves the session's status the way the platform does (``status_*`` events)
and, for an idle ``requires_action``, records which tool uses block the turn. Events stored are
pushed to the session's open streams.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.managed_agents.errors import not_found
from tests.fakes.managed_agents.events import STATUS_BY_EVENT, Event, stamp
from tests.fakes.managed_agents.resource import Store
from tests.fakes.managed_agents.streams import Streams, Subscriber


@dataclass
class SessionRecord:
    seq: int
    body: dict[str, Any]
    from_overrides: bool
    had_budget: bool
    events: list[tuple[int, Event]] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)
    blocking: list[str] = field(default_factory=list)
    responses: list[Event] = field(default_factory=list)


class SessionStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = store.lock
        self.streams = Streams(store.lock)
        self._records: dict[str, SessionRecord] = {}

    def get(self, session_id: str) -> SessionRecord | None:
        return self._records.get(session_id)

    def require(self, session_id: str) -> SessionRecord:
        record = self._records.get(session_id)
        if record is None:
            raise not_found("Session", session_id)
        return record

    def add(self, record: SessionRecord) -> None:
        self._records[record.body["id"]] = record

    def remove(self, session_id: str) -> None:
        del self._records[session_id]

    def all(self) -> list[SessionRecord]:
        return list(self._records.values())

    def append(self, record: SessionRecord, events: list[Event]) -> list[Event]:
        """Store ``events`` (ids kept or assigned, ``processed_at`` set); the stored copies."""
        prepared = [stamp(event) for event in events]
        for event in prepared:
            self._append_one(record, event)
        return prepared

    def _append_one(self, record: SessionRecord, stored: Event) -> None:
        record.events.append((self.store.next_seq(), stored))
        status = STATUS_BY_EVENT.get(stored["type"])
        if status is not None:
            record.body["status"] = status
            record.body["updated_at"] = stored["processed_at"]
        if stored["type"] == "session.status_idle":
            stop = stored.get("stop_reason") or {}
            record.blocking = (
                list(stop.get("event_ids", [])) if stop.get("type") == "requires_action" else []
            )

    def emit(self, session_id: str, events: list[Event]) -> list[Event]:
        """Append platform events to a session, update its status, push them to its streams."""
        with self.lock:
            record = self.require(session_id)
            stored = self.append(record, events)
        self.streams.push(session_id, stored)
        return copy.deepcopy(stored)

    def events(self, session_id: str) -> list[Event]:
        with self.lock:
            return [copy.deepcopy(event) for _, event in self.require(session_id).events]

    def subscribe(self, session_id: str, loop: asyncio.AbstractEventLoop) -> Subscriber:
        with self.lock:
            self.require(session_id)
            return self.streams.subscribe(session_id, loop)
