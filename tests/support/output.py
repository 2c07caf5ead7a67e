"""Read a subprocess's output line by line with a deadline (a thread, so buffering can't stall)."""

from __future__ import annotations

import queue
import re
import threading
import time
from typing import IO


class Lines:
    """Collects the lines of ``stream`` as they arrive."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, pattern: str, within: float = 60.0) -> re.Match[str]:
        """Wait for a line matching ``pattern``; AssertionError with the output otherwise."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"never saw {pattern!r}; output so far:\n" + "\n".join(self.seen))

    def rest(self, within: float = 20.0) -> list[str]:
        """Every further line until the stream closes (bounded)."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        return self.seen
