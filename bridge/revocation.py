"""Ending what a token opened once the token stops being valid: live streams and sessions.

The SDK checks the bearer token of every HTTP request, so a revoked or expired token's next
POST gets 401; but a stream opened before (``GET /sse``, a handshake-era ``GET /mcp``) and a
Streamable HTTP session stay open for as long as the client keeps them. :class:`LiveStreams`
remembers, for each such stream and session, the token that last spoke for it (a client that
moved on to a rotated token keeps its session), and :meth:`LiveStreams.watch` re-verifies those
tokens in memory every ``interval`` seconds: a stream whose token is no longer valid is ended,
and its Streamable HTTP session terminated, within that interval.

Per request this costs a scan of the headers on the requests that belong to a session; a
stateless (2026-07-28) request is not tracked at all. Tokens are kept in memory only, as the
SDK keeps the request headers.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.auth import Verifier

log = logging.getLogger("bridge.auth")

_AUTHORIZATION = b"authorization"
_SESSION_ID = b"mcp-session-id"
_SSE_SESSION = b"session_id="
_DISCONNECT: Message = {"type": "http.disconnect"}
_BACKSTOP = 2.0


@dataclass(eq=False, slots=True)
class _Tracked:
    """One stream or session: the token that last spoke for it, and how to end it.

    No task per stream (an idle session must stay small): ending it cancels the scope around
    the stream's wait for the client (``listening``), and past ``_BACKSTOP`` seconds the scope
    around the whole stream (``serving``).
    """

    token: bytes
    kind: str
    session: str | None = None
    ended_at: float | None = None
    listening: anyio.CancelScope | None = None
    serving: anyio.CancelScope | None = None

    def end(self, now: float) -> None:
        if self.ended_at is None:
            self.ended_at = now
        elif now - self.ended_at >= _BACKSTOP and self.serving is not None:
            self.serving.cancel()  # a stream that does not listen for the hang-up
        if self.listening is not None:
            self.listening.cancel()


class LiveStreams:
    """Streams and sessions by the token that speaks for them; see the module docstring.

    ``terminate(session_id)`` ends a Streamable HTTP session and ``alive()`` lists the session
    ids that still exist (the app passes the SDK session manager's); SSE sessions end with their
    stream.
    """

    def __init__(
        self,
        verifier: Verifier,
        *,
        interval: float = 0.25,
        terminate: Callable[[str], Awaitable[None]] | None = None,
        alive: Callable[[], Container[str]] | None = None,
    ) -> None:
        self._verifier = verifier
        self.interval = interval
        self._terminate = terminate
        self._alive = alive
        self._streams: set[_Tracked] = set()
        self._sessions: dict[str, _Tracked] = {}

    def __len__(self) -> int:
        return len(self._streams) + len(self._sessions)

    def guard(self, app: ASGIApp, *, sse: bool) -> ASGIApp:
        """``app`` (the SDK's SSE or Streamable HTTP app) with its streams and sessions tracked."""

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            token = session = None
            for name, value in scope["headers"]:
                if name == _AUTHORIZATION:
                    token = value
                elif name == _SESSION_ID:
                    session = value.decode("latin-1")
            if token is None:  # the SDK answers 401
                await app(scope, receive, send)
                return
            if sse:
                if scope["method"] == "GET":
                    await self._stream(app, scope, receive, send, _Tracked(token, "SSE stream"))
                    return
                session = _sse_session(scope.get("query_string", b""))
            if session is not None:
                self._spoke(session, token)
                if scope["method"] == "GET":  # the session's own stream of notifications
                    tracked = _Tracked(token, "session stream", session=session)
                    await self._stream(app, scope, receive, send, tracked)
                    return
                await app(scope, receive, send)
                return
            if scope["method"] == "POST":  # may open a handshake-era session
                await app(scope, receive, self._opening(send, token))
                return
            await app(scope, receive, send)

        return _App(guarded)

    async def watch(self) -> None:
        """End, every ``interval`` seconds, what a token no longer valid speaks for."""
        while True:
            await anyio.sleep(self.interval)
            await self.sweep()

    async def sweep(self) -> None:
        """End now what a token no longer valid speaks for."""
        now = time.monotonic()
        for tracked in [t for t in self._streams if not self._valid(t)]:
            if tracked.ended_at is None:
                log.info("ending an %s: its token is no longer valid", tracked.kind)
            tracked.end(now)
        alive = self._alive() if self._alive is not None else None
        for session, tracked in list(self._sessions.items()):
            if alive is not None and session not in alive:  # ended by its client, or idle
                self._sessions.pop(session, None)
                continue
            if self._valid(tracked):
                continue
            self._sessions.pop(session, None)
            for stream in [t for t in self._streams if t.session == session]:
                stream.end(now)
            if self._terminate is not None:
                log.info("ending a session: its token is no longer valid")
                with contextlib.suppress(Exception):  # already gone
                    await self._terminate(session)

    def _valid(self, tracked: _Tracked) -> bool:
        scheme, _, token = tracked.token.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return False
        token = token.strip()
        if self._verifier.verify(token) is not None:
            return True
        # An OAuth access token that merely expired keeps what it opened: its client refreshes
        # and speaks for the session with the new token (the SDK refuses the old one's requests).
        lapsed = getattr(self._verifier, "lapsed", None)
        return lapsed is not None and bool(lapsed(token))

    def _spoke(self, session: str, token: bytes) -> None:
        tracked = self._sessions.get(session)
        if tracked is not None and tracked.token != token:
            tracked.token = token
        for stream in self._streams:  # an SSE stream's session speaks through its POSTs
            if stream.session == session and stream.token != token:
                stream.token = token

    def _opening(self, send: Send, token: bytes) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status", 500) < 300:
                for name, value in message.get("headers", ()):
                    if name == _SESSION_ID:
                        session = value.decode("latin-1")
                        self._sessions.setdefault(session, _Tracked(token, "session", session))
            await send(message)

        return sending

    async def _stream(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, tracked: _Tracked
    ) -> None:
        started = ended = False

        async def sending(message: Message) -> None:
            nonlocal started, ended
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body":
                if tracked.session is None and (found := _sse_session(message.get("body", b""))):
                    tracked.session = found  # the SSE endpoint event names the session
                ended = not message.get("more_body", False)
            await send(message)

        async def receiving() -> Message:
            # The SDK ends a stream cleanly when its client hangs up: once the token is no
            # longer valid, that is what the stream hears.
            if tracked.ended_at is not None:
                return _DISCONNECT
            with anyio.CancelScope() as listening:
                tracked.listening = listening
                try:
                    return await receive()
                finally:
                    tracked.listening = None
            return _DISCONNECT

        self._streams.add(tracked)
        try:
            with anyio.CancelScope() as serving:
                tracked.serving = serving
                await app(scope, receiving, sending)
        finally:
            self._streams.discard(tracked)
        if tracked.ended_at is not None and started and not ended:
            with contextlib.suppress(Exception):  # the client may be gone too
                await send({"type": "http.response.body", "body": b"", "more_body": False})


class _App:
    """An ASGI callable as an object: starlette routes a plain function as a request handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _sse_session(data: bytes) -> str | None:
    """The ``session_id=`` value in a query string or in the SSE endpoint event."""
    start = data.find(_SSE_SESSION)
    if start < 0:
        return None
    start += len(_SSE_SESSION)
    end = start
    while end < len(data) and chr(data[end]) in "0123456789abcdefABCDEF-":
        end += 1
    return data[start:end].decode("ascii") or None
