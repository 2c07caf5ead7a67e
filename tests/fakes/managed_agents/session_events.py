"""A session's events: sending user events (each answer checked against what it answers),
listing the log, and the SSE stream, which keeps no history: it shows what happens while open.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.fakes.managed_agents.bodies import parse
from tests.fakes.managed_agents.errors import ApiError, bad, conflict
from tests.fakes.managed_agents.events import (
    CustomToolResultIn,
    Event,
    SendEvents,
    ToolConfirmationIn,
    user_event,
)
from tests.fakes.managed_agents.pagination import Listing, paginate
from tests.fakes.managed_agents.player import Player
from tests.fakes.managed_agents.query import TIME_BOUNDS, Query
from tests.fakes.managed_agents.resource import Resource, Routes, json_response
from tests.fakes.managed_agents.session_store import SessionStore
from tests.fakes.managed_agents.streams import ABORT, CLOSE
from tests.fakes.managed_agents.values import in_range, parse_ts


class SessionEvents(Resource):
    """``/v1/sessions/{session_id}/events`` and its ``/stream``."""

    def __init__(self, records: SessionStore, player: Player) -> None:
        super().__init__(records.store)
        self.records = records
        self.player = player

    def list_page(
        self,
        session_id: str,
        listing: Listing,
        *,
        types: list[str],
        processed: dict[str, datetime],
    ) -> dict[str, Any]:
        with self.lock:
            record = self.records.require(session_id)
            rows = [
                (seq, event)
                for seq, event in record.events
                if (not types or event["type"] in types)
                and (
                    not processed
                    or (
                        event.get("processed_at") is not None
                        and in_range(parse_ts(event["processed_at"]), processed)
                    )
                )
            ]
            return paginate(rows, listing)

    def send(self, session_id: str, body: SendEvents) -> list[Event]:
        with self.lock:
            record = self.records.require(session_id)
            session = record.body
            if session["archived_at"] is not None:
                raise conflict(f"Session {session_id} is archived; it cannot receive events")
            if session["status"] == "terminated":
                raise bad(f"Session {session_id} is terminated")
            known = {event["id"]: event for _, event in record.events}
            answering: set[str] = set()
            for index, event in enumerate(body.events):
                target: str | None = None
                wanted: tuple[str, ...] = ()
                if isinstance(event, CustomToolResultIn):
                    target, wanted = event.custom_tool_use_id, ("agent.custom_tool_use",)
                elif isinstance(event, ToolConfirmationIn):
                    target, wanted = event.tool_use_id, ("agent.mcp_tool_use", "agent.tool_use")
                    if event.deny_message is not None and event.result != "deny":
                        raise bad(f"events.{index}: deny_message is only allowed with result deny")
                if target is None:
                    continue
                source = known.get(target)
                if source is None or source["type"] not in wanted:
                    raise bad(f"events.{index}: {target} is not a {' or '.join(wanted)} event")
                if target in record.answered or target in answering:
                    raise bad(f"events.{index}: {target} has already been answered")
                if (
                    isinstance(event, ToolConfirmationIn)
                    and source.get("evaluated_permission") != "ask"
                ):
                    raise bad(f"events.{index}: {target} does not await a confirmation")
                answering.add(target)
            record.answered |= answering
            return self.records.append(record, [user_event(event) for event in body.events])

    def routes(self) -> Routes:
        async def send_events(request: Request) -> Response:
            Query(request, set())
            session_id = request.path_params["session_id"]
            echoed = self.send(session_id, parse(SendEvents, await request.body()))
            try:
                await run_in_threadpool(self.player.run, session_id, echoed)
            except Exception as exc:
                raise ApiError(500, f"the fake platform's script failed: {exc!r}") from exc
            return json_response({"data": echoed})

        async def list_events(request: Request) -> Response:
            query = Query(request, {"limit", "page", "order", "types[]"} | TIME_BOUNDS)
            session_id = request.path_params["session_id"]
            order = query.order("asc")
            return json_response(
                self.list_page(
                    session_id,
                    query.listing(f"events:{session_id}", order=order),
                    types=query.params.getlist("types[]"),
                    processed=query.times("gt", "gte", "lt", "lte"),
                )
            )

        async def stream_events(request: Request) -> Response:
            query = Query(request, {"event_deltas[]"})
            for delta in query.params.getlist("event_deltas[]"):
                if delta not in ("agent.message", "agent.thinking"):
                    raise bad(
                        f"event_deltas[] value {delta!r} is not agent.message or agent.thinking"
                    )
            subscriber = self.records.subscribe(
                request.path_params["session_id"], asyncio.get_running_loop()
            )

            async def frames() -> Any:
                try:
                    while True:
                        item = await subscriber.queue.get()
                        if item == CLOSE:
                            return
                        if item == ABORT:
                            raise ConnectionAbortedError("event stream dropped by the test")
                        assert isinstance(item, dict)
                        data = json.dumps(item, separators=(",", ":"))
                        yield f"event: {item['type']}\ndata: {data}\n\n".encode()
                finally:
                    self.records.streams.unsubscribe(subscriber)

            return StreamingResponse(
                frames(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
            )

        events = "/v1/sessions/{session_id}/events"
        return [
            ("POST", events, send_events),
            ("GET", events, list_events),
            ("GET", events + "/stream", stream_events),
        ]
