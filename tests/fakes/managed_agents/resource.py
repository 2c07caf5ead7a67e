"""What every resource of the fake is built on: the shared store, a record, the route table.

A resource is one class: its records (under the store's lock), its rules, and ``routes()``, the
endpoints it serves, each with the ``anthropic-beta`` value it requires. Adding one to the fake is
a module with a :class:`Resource` subclass plus one line in ``ManagedAgentsState``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

BETA = "managed-agents-2026-04-01"

Endpoint = Callable[[Request], Awaitable[Response]]
Routes = list[tuple[str, str, Endpoint]]


class Store:
    """One lock and one sequence for the whole platform, so cross-resource rules stay atomic
    and every list (and the event log) orders by creation."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        return next(self._seq)


@dataclass
class Record:
    seq: int
    body: dict[str, Any]


class Resource:
    """One collection of the API; ``beta`` is the ``anthropic-beta`` value its routes need."""

    beta: ClassVar[str] = BETA

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = store.lock

    def routes(self) -> Routes:
        """``(method, path, endpoint)`` for each endpoint this resource serves."""
        raise NotImplementedError


def json_response(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)
