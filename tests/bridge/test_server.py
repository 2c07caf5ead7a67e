"""What the server layer adds to every tool, in-process: timeouts, output caps, the call log."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.types import CallToolResult, ImageContent, TextContent
from opentelemetry import trace

from bridge.server import BridgeServer, Limits, _surely_within
from bridge.tools.registry import CallContext, Registry, StaticSource, ToolCall, ToolSpec

pytestmark = pytest.mark.anyio


def _server(call: ToolCall, *, timeout: float | None = None, **limits: Any) -> BridgeServer:
    spec = ToolSpec(
        name="probe",
        description="",
        input_schema={"type": "object"},
        call=call,
        source="test",
        timeout=timeout,
    )
    return BridgeServer("test", Registry([StaticSource("test", [spec])]), limits=Limits(**limits))


def _result(*content: Any, structured: dict[str, Any] | None = None) -> ToolCall:
    async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
        return CallToolResult(content=list(content), structured_content=structured)

    return call


async def _sleep_forever(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


def _texts(result: CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, TextContent)]


def _outcomes(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == "bridge.calls"]
    return [line.rsplit("outcome=", 1)[1] for line in lines]


@pytest.mark.parametrize(
    ("tool_timeout", "own_timeout", "shown"),
    [
        pytest.param(0.1, None, "0.1 s", id="server-default"),
        pytest.param(60.0, 0.1, "0.1 s", id="tool-own"),
    ],
)
async def test_a_call_past_its_timeout_is_stopped_and_said_so(
    caplog: pytest.LogCaptureFixture, tool_timeout: float, own_timeout: float | None, shown: str
) -> None:
    server = _server(_sleep_forever, timeout=own_timeout, tool_timeout=tool_timeout)
    with caplog.at_level(logging.INFO, logger="bridge.calls"), anyio.fail_after(5):
        result = await server.call_tool("probe", {})
    assert result.is_error and _texts(result) == [
        f"Tool probe timed out after {shown} and was stopped"
    ]
    assert _outcomes(caplog) == ["timeout"]


async def test_a_timeout_error_the_tool_raises_is_its_failure_not_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
        raise TimeoutError("the upstream service did not answer")

    server = _server(call, tool_timeout=60.0)
    with caplog.at_level(logging.INFO, logger="bridge.calls"):
        result = await server.call_tool("probe", {})
    assert result.is_error and _texts(result) == [
        "Tool probe failed unexpectedly; see the bridge log"
    ]
    assert _outcomes(caplog) == ["crash"]


async def test_output_within_the_cap_is_untouched() -> None:
    server = _server(_result(TextContent(type="text", text="x" * 100)), max_output_bytes=100)
    result = await server.call_tool("probe", {})
    assert _texts(result) == ["x" * 100] and not result.is_error


async def test_text_over_the_cap_is_cut_across_blocks_with_a_notice() -> None:
    blocks = [TextContent(type="text", text="a" * 60), TextContent(type="text", text="b" * 60)]
    server = _server(_result(*blocks), max_output_bytes=100)
    result = await server.call_tool("probe", {})
    assert _texts(result) == [
        "a" * 60,
        "b" * 40,
        "[output truncated: 120 bytes, the bridge's limit is 100 bytes]",
    ]
    assert not result.is_error


async def test_a_block_that_is_not_text_counts_and_is_left_out_when_it_does_not_fit() -> None:
    image = ImageContent(type="image", data="A" * 4000, mime_type="image/png")
    small = ImageContent(type="image", data="AAAA", mime_type="image/png")
    server = _server(
        _result(TextContent(type="text", text="caption"), image, small), max_output_bytes=1000
    )
    result = await server.call_tool("probe", {})
    assert [block.type for block in result.content] == ["text", "image", "text"]
    assert result.content[1] == small
    assert _texts(result)[-1].endswith("; 1 non-text block left out]")


async def test_oversized_structured_output_becomes_an_error_with_the_cut_text() -> None:
    big = {"result": "y" * 500}
    server = _server(
        _result(TextContent(type="text", text="short"), structured=big), max_output_bytes=100
    )
    result = await server.call_tool("probe", {})
    assert result.is_error and result.structured_content is None
    assert _texts(result)[0] == "short" and "truncated" in _texts(result)[1]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=24,
)


@given(value=_JSON, limit=st.integers(min_value=0, max_value=400))
def test_the_cheap_size_check_never_lets_oversized_structured_output_through(
    value: Any, limit: int
) -> None:
    if _surely_within(value, limit):
        assert len(json.dumps(value, default=str).encode()) <= limit


def _traced(server: BridgeServer) -> bool:
    return any(type(m).__name__ == "OpenTelemetryMiddleware" for m in server.middleware)


def test_spans_are_made_only_when_a_tracer_provider_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    untraced = _server(_sleep_forever)

    class Provider(trace.TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
            return trace.NoOpTracer()

    monkeypatch.setattr(trace, "get_tracer_provider", Provider)
    assert not _traced(untraced) and _traced(_server(_sleep_forever))
