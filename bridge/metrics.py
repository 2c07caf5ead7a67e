"""Prometheus metrics of one bridge app (its own registry, so apps in one process stay apart).

``labels()`` looks its child up under a lock on every call; the children of each (tool,
outcome) pair are kept here instead, so a call costs two increments. Tool names come from the
registry only (unknown names are never observed), which bounds that table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Call counts and durations by tool and outcome, and whether each source is up."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "bridge_tool_calls",
            "Tool calls by tool and outcome",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "bridge_tool_call_seconds", "Tool call duration", ["tool"], registry=self.registry
        )
        self.source_up = Gauge(
            "bridge_source_up",
            "1 when the tool source is healthy",
            ["source"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe_call(self, tool: str, outcome: str, seconds: float) -> None:
        children = self._children.get((tool, outcome))
        if children is None:
            children = self._children[tool, outcome] = (
                self.calls.labels(tool=tool, outcome=outcome),
                self.seconds.labels(tool=tool),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self, health: Mapping[str, bool]) -> bytes:
        for source, up in health.items():
            self.source_up.labels(source=source).set(1 if up else 0)
        return generate_latest(self.registry)
