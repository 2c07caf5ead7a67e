"""The helper's names come from ``bridge``, imported on first use."""

from __future__ import annotations

import pytest

import bridge


def test_the_helper_is_exported_from_bridge() -> None:
    from bridge import agents

    for name in bridge.__all__:
        assert getattr(bridge, name) is not None
    assert bridge.run_session is agents.run_session
    assert bridge.SessionRun is agents.SessionRun
    assert bridge.ensure_agent is agents.ensure_agent
    with pytest.raises(AttributeError):
        bridge.no_such_name  # noqa: B018
