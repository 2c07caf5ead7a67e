"""The open event streams: each is a queue on the server's loop, fed from any thread."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading

from tests.fakes.managed_agents.events import Event

CLOSE = "close"
ABORT = "abort"


class Subscriber:
    def __init__(self, session_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.session_id = session_id
        self.loop = loop
        self.queue: asyncio.Queue[Event | str] = asyncio.Queue()

    def push(self, item: Event | str) -> None:
        # Called from any thread: the queue belongs to the server's event loop, which may
        # already be closed (the server is gone, and so is the stream).
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class Streams:
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._subscribers: list[Subscriber] = []

    def subscribe(self, session_id: str, loop: asyncio.AbstractEventLoop) -> Subscriber:
        with self._lock:
            subscriber = Subscriber(session_id, loop)
            self._subscribers.append(subscriber)
            return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def push(self, session_id: str, events: list[Event]) -> None:
        with self._lock:
            subscribers = [s for s in self._subscribers if s.session_id == session_id]
        for event in events:
            for subscriber in subscribers:
                subscriber.push(copy.deepcopy(event))

    def drop(self, session_id: str | None = None, *, abort: bool = False) -> int:
        """End the open streams (of one session, or all): cleanly, or with ``abort`` by
        breaking the connection mid-body. Returns how many were cut."""
        with self._lock:
            cut = [s for s in self._subscribers if session_id in (None, s.session_id)]
        for subscriber in cut:
            subscriber.push(ABORT if abort else CLOSE)
        return len(cut)

    def count(self, session_id: str | None = None) -> int:
        with self._lock:
            return sum(1 for s in self._subscribers if session_id in (None, s.session_id))
