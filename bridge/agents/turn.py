"""One turn of a session: send the message, then drive the event stream until the turn ends.

``run_session`` streams the session's events, answers custom tool uses with local functions and
tool confirmations with the caller's policy, and survives a dropped stream by reopening it and
reconciling with the event list, so each event is handled once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import anthropic
import httpx2

from bridge.agents.custom_tools import LocalTools, call_local, tool_table
from bridge.errors import AgentError
from mcpb.api import describe

if TYPE_CHECKING:
    from anthropic import Anthropic, Stream
    from anthropic.types.beta import BetaManagedAgentsSession
    from anthropic.types.beta.sessions import (
        BetaManagedAgentsAgentMCPToolUseEvent,
        BetaManagedAgentsAgentToolUseEvent,
    )

    ToolUseEvent: TypeAlias = (
        BetaManagedAgentsAgentMCPToolUseEvent | BetaManagedAgentsAgentToolUseEvent
    )

Confirm: TypeAlias = "bool | Callable[[ToolUseEvent], bool]"

_READ_SLACK = 5.0  # the watchdog ends a stream at the deadline; the read timeout is a backstop
_MAX_BACKOFF = 8.0


@dataclass
class SessionRun:
    """What one ``run_session`` turn saw.

    ``stop_reason`` is the idle stop reason (``end_turn``, ``retries_exhausted``,
    ``budget_reached``, ``refusal``) or ``terminated``; ``event_ids`` lists every event handled,
    once each; ``errors`` the messages of ``session.error`` events.
    """

    session_id: str
    stop_reason: str = ""
    text: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0


def _socket_of(stream: Stream[Any]) -> socket.socket | None:
    network = stream.response.extensions.get("network_stream")
    sock = network.get_extra_info("socket") if network is not None else None
    return sock if isinstance(sock, socket.socket) else None


def _shutdown(sock: socket.socket) -> None:
    # The base class's shutdown: an SSLSocket's own would drop its SSL object under the reader.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Turn:
    """The state of one ``run_session`` call."""

    def __init__(
        self,
        client: Anthropic,
        session_id: str,
        *,
        on_text: Callable[[str], None] | None,
        on_event: Callable[[Any], None] | None,
        tools: LocalTools,
        confirm: Confirm,
        deadline: float,
        max_reconnects: int,
    ) -> None:
        self.events = client.beta.sessions.events
        self.session_id = session_id
        self.on_text = on_text
        self.on_event = on_event
        self.tools = tool_table(tools)
        self.confirm = confirm
        self.deadline = deadline
        self.ends = time.monotonic() + deadline
        self.max_reconnects = max_reconnects
        self.result = SessionRun(session_id=session_id)
        self.seen: set[str] = set()
        self.tool_uses: dict[str, Any] = {}
        self.anchor: str | None = None
        self.streak = 0  # stream drops since an event was last handled

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise AgentError(
                f"session {self.session_id} did not finish its turn within {self.deadline:g} s; "
                "raise the deadline, or look at the session's events in the console"
            )
        return left

    def run(self, message: str) -> SessionRun:
        # The stream keeps no history: open it before sending, or the first events are lost.
        stream = self.open("opening the session's event stream")
        try:
            echoed = self.send(
                [{"type": "user.message", "content": [{"type": "text", "text": message}]}]
            )
            self.anchor = echoed[0].id if echoed else None
        except BaseException:
            stream.close()
            raise
        reconcile = False
        while True:
            with stream:
                try:
                    with self.watchdog(stream):
                        if reconcile and self.reconcile():
                            return self.result
                        for event in stream:
                            if self.handle(event):
                                return self.result
                except (anthropic.APIConnectionError, httpx2.TransportError):
                    pass  # dropped mid-way; a clean close just ends the loop
                except anthropic.APIStatusError as exc:
                    raise describe("streaming the session's events", exc, error=AgentError) from exc
            stream = self.reconnect()
            reconcile = True

    def open(self, action: str) -> Stream[Any]:
        try:
            return self.events.stream(self.session_id, timeout=self.remaining() + _READ_SLACK)
        except anthropic.APIError as exc:
            raise describe(action, exc, error=AgentError) from exc

    @contextlib.contextmanager
    def watchdog(self, stream: Stream[Any]) -> Iterator[None]:
        # A server heartbeat restarts every read timeout, so only a timer enforces the deadline
        # while the stream waits; cutting the socket ends the read with a transport error.
        sock = _socket_of(stream)
        timer = threading.Timer(self.remaining(), _shutdown, args=(sock,)) if sock else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()

    def reconnect(self) -> Stream[Any]:
        while True:
            self.remaining()
            self.streak += 1
            if self.streak > self.max_reconnects:
                raise AgentError(
                    f"session {self.session_id}: the event stream dropped {self.streak} times "
                    "in a row; check the network and run the turn again"
                )
            if self.streak > 1:
                time.sleep(min(0.25 * 2 ** (self.streak - 2), _MAX_BACKOFF, self.remaining()))
            self.result.reconnects += 1
            try:
                return self.events.stream(self.session_id, timeout=self.remaining() + _READ_SLACK)
            except anthropic.APIConnectionError:
                continue
            except anthropic.APIStatusError as exc:
                raise describe(
                    "reopening the session's event stream", exc, error=AgentError
                ) from exc

    def reconcile(self) -> bool:
        """Handle what was missed while the stream was down; True when the turn is over."""
        after_anchor = self.anchor is None
        try:
            for event in self.events.list(
                self.session_id, order="asc", limit=100, timeout=self.remaining()
            ):
                if not after_anchor:
                    after_anchor = event.id == self.anchor
                    continue
                if self.handle(event):
                    return True
        except anthropic.APIStatusError as exc:
            raise describe("listing the session's events", exc, error=AgentError) from exc
        return False

    def send(self, events: list[dict[str, Any]]) -> list[Any]:
        try:
            sent = self.events.send(self.session_id, events=events, timeout=self.remaining())  # type: ignore[arg-type]
        except anthropic.APIError as exc:
            raise describe("sending events to the session", exc, error=AgentError) from exc
        return list(sent.data or [])

    def handle(self, event: Any) -> bool:
        """Handle one event, once; True when the turn is over."""
        event_id = getattr(event, "id", None)
        if event_id is not None:
            if event_id in self.seen:
                return False
            self.seen.add(event_id)
            self.result.event_ids.append(event_id)
        self.streak = 0
        self.remaining()
        if self.on_event is not None:
            self.on_event(event)
        kind = event.type
        if kind == "agent.message":
            for block in event.content:
                if block.type == "text":
                    self.result.text.append(block.text)
                    if self.on_text is not None:
                        self.on_text(block.text)
        elif kind == "agent.custom_tool_use":
            self.answer_custom(event)
        elif kind in ("agent.mcp_tool_use", "agent.tool_use"):
            self.tool_uses[event.id] = event
        elif kind == "session.error":
            self.result.errors.append(str(getattr(event.error, "message", "") or event.error.type))
        elif kind == "session.status_idle":
            if event.stop_reason.type == "requires_action":
                self.answer_confirmations(event.stop_reason.event_ids)
                return False
            self.result.stop_reason = event.stop_reason.type
            return True
        elif kind in ("session.status_terminated", "session.deleted"):
            self.result.stop_reason = kind.rsplit(".", 1)[1].removeprefix("status_")
            return True
        return False

    def answer_custom(self, event: Any) -> None:
        local = self.tools.get(event.name)
        if local is None:
            known = ", ".join(sorted(self.tools)) or "none"
            text, is_error = f"no local tool named {event.name!r} (known: {known})", True
        else:
            text, is_error = call_local(local, dict(event.input))
        answer: dict[str, Any] = {
            "type": "user.custom_tool_result",
            "custom_tool_use_id": event.id,
            "is_error": is_error,
        }
        if text:
            answer["content"] = [{"type": "text", "text": text}]
        self.send([answer])

    def answer_confirmations(self, event_ids: list[str]) -> None:
        answers: list[dict[str, Any]] = []
        for waiting in event_ids:
            tool_use = self.tool_uses.pop(waiting, None)
            if tool_use is None:
                continue  # a custom tool use: answered when it arrived
            if tool_use.evaluated_permission not in ("ask", None):
                raise AgentError(
                    f"session {self.session_id} waits for a result of built-in tool "
                    f"{tool_use.name!r} (a self-hosted environment); run_session only answers "
                    "custom tools and confirmations"
                )
            allowed = self.confirm(tool_use) if callable(self.confirm) else bool(self.confirm)
            answer: dict[str, Any] = {
                "type": "user.tool_confirmation",
                "tool_use_id": waiting,
                "result": "allow" if allowed else "deny",
            }
            if not allowed:
                answer["deny_message"] = "denied by the client's confirmation policy"
            answers.append(answer)
        if answers:
            self.send(answers)


def run_session(
    client: Anthropic,
    session: BetaManagedAgentsSession | str,
    message: str,
    *,
    on_text: Callable[[str], None] | None = None,
    tools: LocalTools = (),
    confirm: Confirm = False,
    on_event: Callable[[Any], None] | None = None,
    deadline: float = 600.0,
    max_reconnects: int = 5,
) -> SessionRun:
    """Send ``message`` and drive the session until it is idle at the end of its turn, or
    terminated.

    The event stream is opened before the message is sent, so no event is missed. Text is
    delivered to ``on_text``, every event to ``on_event``. ``agent.custom_tool_use`` is answered
    by calling ``tools`` (plain or ``@tool`` functions, or a name -> function mapping), with
    arguments validated and results converted as the bridge does. Tool confirmation requests
    are answered by ``confirm``: a bool, or a callable taking the tool-use event (default:
    deny). A dropped stream is reopened and reconciled with the event list, each event handled
    once (by id); ``max_reconnects`` drops in a row without progress give up. ``AgentError``
    when ``deadline`` seconds pass first, or on an API error (with ``status_code`` and
    ``request_id``).
    """
    session_id = session if isinstance(session, str) else session.id
    turn = _Turn(
        client,
        session_id,
        on_text=on_text,
        on_event=on_event,
        tools=tools,
        confirm=confirm,
        deadline=deadline,
        max_reconnects=max_reconnects,
    )
    return turn.run(message)
