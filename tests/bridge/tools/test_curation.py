"""Curation: allow/deny globs, renames, descriptions and a prefix, for any source's specs."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from bridge.tools.curation import Curation, curate, curation_problems, is_valid_tool_name
from bridge.tools.registry import CallContext, ToolSpec

CONTEXT = CallContext(timeout=5, max_output=1024)


def spec(name: str, description: str = "", error: type[ToolError] | None = None) -> ToolSpec:
    async def call(arguments: dict[str, Any], context: CallContext) -> CallToolResult:
        if error is not None:
            raise error(f"Error executing tool {name}: it broke")
        return CallToolResult(content=[TextContent(type="text", text=f"{name} ran")])

    return ToolSpec(
        name=name,
        description=description or f"The {name} tool.",
        input_schema={"type": "object", "properties": {}},
        call=call,
        source="test",
    )


SPECS = [spec("get_order"), spec("get_customer"), spec("list_orders"), spec("delete_order")]


def names(specs: list[ToolSpec]) -> list[str]:
    return [s.name for s in specs]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param({}, ["get_order", "get_customer", "list_orders", "delete_order"], id="none"),
        pytest.param({"allow": ["get_*"]}, ["get_order", "get_customer"], id="allow-glob"),
        pytest.param({"allow": []}, [], id="empty-allow-admits-nothing"),
        pytest.param(
            {"deny": ["delete_*"]}, ["get_order", "get_customer", "list_orders"], id="deny"
        ),
        pytest.param(
            {"allow": ["*order*"], "deny": ["delete_*"]},
            ["get_order", "list_orders"],
            id="deny-beats-allow",
        ),
        pytest.param({"allow": ["Get_*"]}, [], id="globs-are-case-sensitive"),
        pytest.param(
            {"prefix": "shop_", "allow": ["list_orders"]}, ["shop_list_orders"], id="prefix"
        ),
        pytest.param(
            {"rename": {"get_order": "order"}, "prefix": "shop_", "allow": ["get_order"]},
            ["shop_order"],
            id="prefix-applies-to-renamed",
        ),
    ],
)
def test_curation_selects_and_renames(keys: dict[str, Any], expected: list[str]) -> None:
    assert names(curate(SPECS, Curation.model_validate(keys))) == expected


def test_descriptions_replace_by_original_name() -> None:
    curated = curate(
        SPECS,
        Curation(rename={"get_order": "order"}, descriptions={"get_order": "One order by id."}),
    )

    by_name = {s.name: s for s in curated}
    assert by_name["order"].description == "One order by id."
    assert by_name["get_customer"].description == "The get_customer tool."


def test_curation_leaves_the_source_specs_alone() -> None:
    curate(SPECS, Curation(prefix="x_", descriptions={"get_order": "changed"}))

    assert names(SPECS) == ["get_order", "get_customer", "list_orders", "delete_order"]
    assert SPECS[0].description == "The get_order tool."


def test_a_renamed_tool_still_runs() -> None:
    (renamed,) = curate([spec("get_order")], Curation(prefix="shop_"))

    result = anyio.run(renamed.call, {}, CONTEXT)

    assert isinstance(result.content[0], TextContent)
    assert result.content[0].text == "get_order ran"


@pytest.mark.parametrize("error", [ToolError, UnexpectedToolError])
def test_a_renamed_tools_errors_name_it_as_served(error: type[ToolError]) -> None:
    (renamed,) = curate([spec("get_order", error=error)], Curation(prefix="shop_"))

    with pytest.raises(error) as caught:
        anyio.run(renamed.call, {}, CONTEXT)

    assert str(caught.value) == "Error executing tool shop_get_order: it broke"


def test_an_unchanged_name_keeps_the_original_call() -> None:
    original = spec("get_order")

    (same,) = curate([original], Curation(descriptions={"get_order": "x"}))

    assert same.call is original.call


@pytest.mark.parametrize(
    ("keys", "problems"),
    [
        pytest.param({"allow": ["get_*"]}, [], id="clean"),
        pytest.param(
            {"allow": ["fetch_*"]},
            [("allow", "'fetch_*' matches no tool of this source")],
            id="allow-matches-nothing",
        ),
        pytest.param(
            {"rename": {"get_ordr": "order"}},
            [("rename.get_ordr", "no tool named 'get_ordr' in this source")],
            id="rename-typo",
        ),
        pytest.param(
            {"descriptions": {"getorder": "x"}},
            [("descriptions.getorder", "no tool named 'getorder' in this source")],
            id="description-typo",
        ),
        pytest.param(
            {"prefix": "p" * 120, "allow": ["get_order"]},
            [
                (
                    "prefix",
                    f"{'p' * 120 + 'get_order'!r} is not a valid tool name "
                    "(1-128 characters from A-Z a-z 0-9 _ . -)",
                )
            ],
            id="prefix-too-long",
        ),
    ],
)
def test_curation_problems_point_at_the_key(
    keys: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    assert curation_problems(names(SPECS), Curation.model_validate(keys)) == problems


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param({"prefix": "has space_"}, id="prefix"),
        pytest.param({"rename": {"a": "with/slash"}}, id="rename"),
        pytest.param({"allow": "get_*"}, id="allow-not-a-list"),
        pytest.param({"include": ["x"]}, id="unknown-key"),
    ],
)
def test_bad_curation_keys_are_refused(keys: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Curation.model_validate(keys)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("get_order", True),
        ("files.read-v2", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("run tests", False),
        ("naïve", False),
    ],
)
def test_tool_names_follow_the_mcp_rule(name: str, valid: bool) -> None:
    assert is_valid_tool_name(name) is valid
