"""The agent's side of a session, as tests script it: what follows each user event.

A ``user.message`` runs the session's message handler; answers to the tool uses that block a
turn are collected until none is left, then the tool-response handler runs. Without a handler
the agent ends its turn. What a handler returns is emitted after ``session.status_running``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from tests.fakes.managed_agents.events import (
    Event,
    is_response,
    status_idle_end_turn,
    status_idle_requires_action,
    status_running,
)
from tests.fakes.managed_agents.session_store import SessionRecord, SessionStore

MessageHandler = Callable[[dict[str, Any], str], list[Event]]
ToolResponseHandler = Callable[[dict[str, Any], list[Event]], list[Event]]


def _end_turn() -> list[Event]:
    return [status_idle_end_turn()]


def _note_response(record: SessionRecord, event: Event) -> None:
    target = event.get("custom_tool_use_id") or event["tool_use_id"]
    record.responses.append(copy.deepcopy(event))
    if target in record.blocking:
        record.blocking.remove(target)


class Player:
    """Plays the agent for the user events a session receives (in a worker thread)."""

    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions
        self.lock = sessions.lock
        self.message_handlers: dict[str | None, MessageHandler] = {}
        self.tool_handlers: dict[str | None, ToolResponseHandler] = {}
        self.handler_errors: list[BaseException] = []

    def run(self, session_id: str, echoed: list[Event]) -> None:
        """Play the agent's side for the user events just stored (in a worker thread)."""
        self.sessions.streams.push(session_id, echoed)
        for index, event in enumerate(echoed):
            if is_response(event) and index + 1 < len(echoed) and is_response(echoed[index + 1]):
                # Answers sent together resolve the block together: no idle in between.
                with self.lock:
                    record = self.sessions.get(session_id)
                    if record is not None:
                        _note_response(record, event)
                continue
            step = self._next_step(session_id, event)
            if step is None:
                return
            script, resumes = step
            try:
                produced = list(script())
                with self.lock:
                    record = self.sessions.get(session_id)
                    if record is None:
                        return
                    if resumes and record.body["status"] != "running":
                        produced = [status_running(), *produced]
                self.sessions.emit(session_id, produced)
            except Exception as exc:
                with self.lock:
                    self.handler_errors.append(exc)
                raise

    def _next_step(
        self, session_id: str, event: Event
    ) -> tuple[Callable[[], list[Event]], bool] | None:
        """What the agent does after ``event``, and whether that resumes the session."""
        with self.lock:
            record = self.sessions.get(session_id)
            if record is None:
                return None
            session = copy.deepcopy(record.body)
            if event["type"] == "user.message":
                text = "".join(block["text"] for block in event["content"])
                on_message = self.message_handlers.get(session_id, self.message_handlers.get(None))
                if on_message is None:
                    return _end_turn, True
                return functools.partial(on_message, session, text), True
            if event["type"] == "user.interrupt":
                return _end_turn, False
            _note_response(record, event)
            if record.blocking:
                remaining = list(record.blocking)
                return (lambda: [status_idle_requires_action(remaining)]), False
            responses, record.responses = record.responses, []
            on_tool = self.tool_handlers.get(session_id, self.tool_handlers.get(None))
            if on_tool is None:
                return _end_turn, True
            return functools.partial(on_tool, session, responses), True
