"""Session events: the user events the API accepts, and the platform events tests script.

The builders (``agent_message``, ``agent_custom_tool_use``, ``status_idle_requires_action``...)
make the agent's side of a conversation; every stored event is held to the SDK's own model of its
type, so a bad script fails where it is written, not in the client's stream parser.
"""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Any, Literal, get_args

from anthropic.types.beta.sessions.beta_managed_agents_session_event import (
    BetaManagedAgentsSessionEvent,
)
from pydantic import BaseModel, Field, ValidationError

from tests.fakes.managed_agents.bodies import NonEmpty, Strict
from tests.fakes.managed_agents.values import new_id, now, ts

Event = dict[str, Any]


class _TextBlockIn(Strict):
    type: Literal["text"]
    text: str


class UserMessageIn(Strict):
    type: Literal["user.message"]
    content: Annotated[list[_TextBlockIn], Field(min_length=1)]


class _UserInterruptIn(Strict):
    type: Literal["user.interrupt"]
    session_thread_id: str | None = None


class ToolConfirmationIn(Strict):
    type: Literal["user.tool_confirmation"]
    tool_use_id: NonEmpty
    result: Literal["allow", "deny"]
    deny_message: str | None = None


class CustomToolResultIn(Strict):
    type: Literal["user.custom_tool_result"]
    custom_tool_use_id: NonEmpty
    content: list[_TextBlockIn] | None = None
    is_error: bool | None = None


_EventIn = Annotated[
    UserMessageIn | _UserInterruptIn | ToolConfirmationIn | CustomToolResultIn,
    Field(discriminator="type"),
]


class SendEvents(Strict):
    events: Annotated[list[_EventIn], Field(min_length=1)]


def agent_message(text: str) -> Event:
    return {
        "type": "agent.message",
        "id": new_id("sevt_"),
        "content": [{"type": "text", "text": text}],
    }


def agent_custom_tool_use(name: str, tool_input: dict[str, Any]) -> Event:
    return {
        "type": "agent.custom_tool_use",
        "id": new_id("sevt_"),
        "name": name,
        "input": tool_input,
    }


def agent_mcp_tool_use(
    server_name: str,
    name: str,
    tool_input: dict[str, Any],
    *,
    permission: Literal["allow", "ask", "deny"] = "ask",
) -> Event:
    return {
        "type": "agent.mcp_tool_use",
        "id": new_id("sevt_"),
        "mcp_server_name": server_name,
        "name": name,
        "input": tool_input,
        "evaluated_permission": permission,
    }


def agent_mcp_tool_result(tool_use_id: str, text: str, *, is_error: bool = False) -> Event:
    return {
        "type": "agent.mcp_tool_result",
        "id": new_id("sevt_"),
        "mcp_tool_use_id": tool_use_id,
        "content": [{"type": "text", "text": text}],
        "is_error": is_error,
    }


def status_running() -> Event:
    return {"type": "session.status_running", "id": new_id("sevt_")}


def status_idle_end_turn() -> Event:
    return {
        "type": "session.status_idle",
        "id": new_id("sevt_"),
        "stop_reason": {"type": "end_turn"},
    }


def status_idle_requires_action(event_ids: list[str]) -> Event:
    return {
        "type": "session.status_idle",
        "id": new_id("sevt_"),
        "stop_reason": {"type": "requires_action", "event_ids": list(event_ids)},
    }


def status_terminated() -> Event:
    return {"type": "session.status_terminated", "id": new_id("sevt_")}


def session_error_mcp_auth_failed(
    server_name: str, message: str = "authentication failed"
) -> Event:
    return {
        "type": "session.error",
        "id": new_id("sevt_"),
        "error": {
            "type": "mcp_authentication_failed_error",
            "mcp_server_name": server_name,
            "message": message,
            "retry_status": {"type": "retrying"},
        },
    }


@functools.cache
def _event_models() -> dict[str, type[BaseModel]]:
    union = get_args(BetaManagedAgentsSessionEvent)[0]
    models: dict[str, type[BaseModel]] = {}
    for model in get_args(union):
        (kind,) = get_args(model.model_fields["type"].annotation)
        models[kind] = model
    return models


def _check_event(event: Event) -> None:
    """Hold scripted events to the SDK's own model of their type, so a bad script fails here
    with a precise message rather than in the client's stream parser."""
    model = _event_models().get(event.get("type", ""))
    if model is None:
        raise ValueError(f"{event.get('type')!r} is not a session event type the SDK knows")
    try:
        model.model_validate(event)
    except ValidationError as exc:
        raise ValueError(f"{event['type']} event does not match the SDK model: {exc}") from exc


STATUS_BY_EVENT = {
    "session.status_running": "running",
    "session.status_idle": "idle",
    "session.status_terminated": "terminated",
    "session.status_rescheduled": "rescheduling",
}


def stamp(event: Event) -> Event:
    stamped = copy.deepcopy(event)
    stamped.setdefault("id", new_id("sevt_"))
    stamped["processed_at"] = ts(now())
    _check_event(stamped)
    return stamped


def is_response(event: Event) -> bool:
    return event["type"] in ("user.custom_tool_result", "user.tool_confirmation")


def user_event(event: BaseModel) -> Event:
    return event.model_dump(exclude_none=True)
