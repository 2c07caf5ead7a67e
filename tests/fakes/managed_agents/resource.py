"""What every resource of the fake is built on: the shared store, a record, the route table.

A resource is one class: its records (under the store's lock), its rules, and ``routes()``, the
endpoints it serves, each with the ``anthropic-beta`` value it requires. Adding one to the fake is
a module with a :class:`Resource` subclass plus one line in ``ManagedAgentsState``.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.managed_agents.errors import not_found
from tests.fakes.managed_agents.pagination import Listing, paginate

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


class Collection(Resource):
    """A resource of plain records found by id: ``kind`` names it in a 404."""

    kind: ClassVar[str]

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._records: dict[str, Record] = {}

    def record(self, ident: str, *, error_code: str | None = None) -> Record:
        record = self._records.get(ident)
        if record is None:
            raise not_found(self.kind, ident, error_code=error_code)
        return record

    def add(self, body: dict[str, Any]) -> None:
        self._records[body["id"]] = Record(self.store.next_seq(), body)

    def get(self, ident: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.record(ident).body)

    def list_page(self, listing: Listing, *, include_archived: bool) -> dict[str, Any]:
        with self.lock:
            rows = [
                (record.seq, record.body)
                for record in self._records.values()
                if include_archived or record.body["archived_at"] is None
            ]
            return paginate(rows, listing)


def json_response(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)
