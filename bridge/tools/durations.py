"""Durations in the config: ``"30s"``, ``"2m"`` or a number of seconds, as validated floats.

The parsing is :func:`mcpb.durations.to_seconds` (bounded); these are its pydantic types, shared
by ``[server.limits]`` and every source kind's config.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from mcpb.durations import to_seconds

PositiveDuration = Annotated[float, BeforeValidator(to_seconds), Field(gt=0)]
"""Seconds, more than 0 (timeouts, delays)."""

Duration = Annotated[float, BeforeValidator(to_seconds), Field(ge=0)]
"""Seconds, 0 or more (a grace period that may be none)."""
