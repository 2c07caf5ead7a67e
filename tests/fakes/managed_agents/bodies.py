"""Request bodies: strict parsing (unknown fields rejected at every level) and shared rules.

Each resource module declares its own body models on :class:`Strict`; what every body shares
(string bounds, the metadata limits and patch rules) is here.
"""

from __future__ import annotations

import json
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from starlette.requests import Request

from tests.fakes.managed_agents.errors import bad

Str1_255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Str1_256 = Annotated[str, StringConstraints(min_length=1, max_length=256)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]

_M = TypeVar("_M", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def parse(model: type[_M], raw: bytes) -> _M:
    """``raw`` as ``model``, or a 400 naming the first problem."""
    if not raw.strip():
        raise bad("request body is required")
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise bad(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise bad("request body must be a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise bad(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    more = exc.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {first['msg']}{suffix}" if where else f"{first['msg']}{suffix}"


async def empty_body(request: Request) -> None:
    raw = (await request.body()).strip()
    if raw and raw != b"{}":
        raise bad("this endpoint takes no request body")


def check_metadata(metadata: dict[str, str]) -> None:
    problems = []
    if len(metadata) > 16:
        problems.append(f"metadata has {len(metadata)} keys; at most 16 are allowed")
    for key, value in metadata.items():
        if not key or len(key) > 64:
            problems.append(f"metadata key {key[:70]!r} must be 1-64 characters")
        if len(value) > 512:
            problems.append(f"metadata value for {key!r} is longer than 512 characters")
    if problems:
        raise bad("; ".join(problems), error_code="invalid_metadata")


def patch_metadata(
    current: dict[str, str], patch: dict[str, str | None], *, empty_deletes: bool = False
) -> dict[str, str]:
    result = dict(current)
    for key, value in patch.items():
        if value is None or (empty_deletes and value == ""):
            result.pop(key, None)
        else:
            result[key] = value
    check_metadata(result)
    return result
