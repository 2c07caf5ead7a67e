"""Python tool modules as a source: schemas, descriptions, annotations, loading, the examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from bridge.config import load_config
from bridge.errors import ToolLoadError
from bridge.tools.loader import build_registry
from bridge.tools.python.source import python_source
from bridge.tools.registry import ToolSpec
from bridge.tools.secrets import StaticSecrets
from tests.bridge.tools.python.support import BASICS, EXAMPLES, SECRET, Loader, call, text


def test_only_decorated_functions_become_tools(load: Loader) -> None:
    assert sorted(load(BASICS)) == ["count_items", "lookup", "plain", "purge", "restock"]


def test_signature_and_docstring_give_schema_and_description(load: Loader) -> None:
    spec = load(BASICS)["lookup"]

    assert spec.description == "Look up one item.\n\nMore detail for the agent."
    assert spec.input_schema["required"] == ["sku"]
    assert spec.input_schema["properties"]["sku"]["type"] == "string"
    assert spec.input_schema["properties"]["limit"] == {
        "default": 3,
        "maximum": 10,
        "minimum": 1,
        "title": "Limit",
        "type": "integer",
    }
    assert spec.output_schema is not None and spec.output_schema["title"] == "Item"
    assert spec.timeout is None
    assert spec.source.startswith("python:pytools_")


def test_decorator_options_reach_the_spec(load: Loader) -> None:
    spec = load(BASICS)["count_items"]

    assert spec.title == "Count items"
    assert spec.description == "How many items match."
    assert spec.timeout == 120.0
    assert spec.output_schema == {
        "properties": {"result": {"title": "Result", "type": "integer"}},
        "required": ["result"],
        "title": "countOutput",
        "type": "object",
    }


@pytest.mark.parametrize(
    ("name", "read_only", "destructive"),
    [
        ("count_items", True, None),
        ("purge", False, True),
        ("restock", False, False),
        ("lookup", False, True),
    ],
)
def test_annotations_carry_read_only_and_destructive_hints(
    load: Loader, name: str, read_only: bool, destructive: bool | None
) -> None:
    annotations = load(BASICS)[name].annotations

    assert annotations is not None
    assert annotations.read_only_hint is read_only
    assert annotations.destructive_hint is destructive


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(
            """
            from bridge import tool
            @tool(secrets=["k"])
            def f(x: int) -> int:
                return x
            """,
            "declares secrets but has no parameter annotated Secrets",
            id="secrets-without-parameter",
        ),
        pytest.param(
            """
            from bridge import Secrets, tool
            @tool
            def f(x: int, s: Secrets) -> int:
                return x
            """,
            "parameter 's' is annotated Secrets but @tool(secrets=[...]) is empty",
            id="parameter-without-secrets",
        ),
        pytest.param(
            """
            from mcp.server.mcpserver import Context
            from bridge import tool
            @tool
            async def f(x: int, ctx: Context) -> int:
                return x
            """,
            "MCP Context parameters are not available",
            id="context-parameter",
        ),
        pytest.param(
            """
            from bridge import tool
            @tool(name="no spaces please")
            def f() -> int:
                return 1
            """,
            "is not a valid tool name",
            id="bad-name",
        ),
        pytest.param(
            """
            from bridge import tool
            @tool(timeout="eventually")
            def f() -> int:
                return 1
            """,
            "timeout: bad duration 'eventually'",
            id="bad-timeout",
        ),
        pytest.param(
            """
            from bridge import tool
            @tool(timeout=0)
            def f() -> int:
                return 1
            """,
            "timeout must be more than 0 seconds",
            id="zero-timeout",
        ),
        pytest.param(
            """
            from bridge import tool
            @tool
            def f(_hidden: int) -> int:
                return 1
            """,
            "cannot start with '_'",
            id="unusable-signature",
        ),
        pytest.param(
            """
            from bridge import tool
            @tool
            def f() -> int:
                return 1
            @tool(name="f")
            def g() -> int:
                return 2
            """,
            "defines two tools named 'f'",
            id="duplicate-names",
        ),
    ],
)
def test_an_unusable_tool_is_a_load_error_naming_it(load: Loader, body: str, problem: str) -> None:
    with pytest.raises(ToolLoadError) as caught:
        load(body)

    message = str(caught.value)
    assert problem in message
    assert "pytools_" in message and "\n" not in message


@pytest.mark.usefixtures("isolated_imports")
def test_a_missing_module_is_one_line_naming_module_and_place(tmp_path: Path) -> None:
    with pytest.raises(ToolLoadError) as caught:
        python_source("pytools_absent_module", tmp_path, StaticSecrets())

    assert str(caught.value) == (
        "cannot import tool module 'pytools_absent_module': ModuleNotFoundError: No module named "
        f"'pytools_absent_module'; looked in {tmp_path} and the installed packages"
    )


@pytest.mark.parametrize(
    ("body", "line", "detail"),
    [
        pytest.param("x = 1\ndef broken(:\n", 2, "SyntaxError: ", id="syntax"),
        pytest.param(
            "import os\nVALUE = int(os.environ['PYTOOLS_UNSET'])\n", 2, "KeyError: ", id="raises"
        ),
        pytest.param("import sys\nsys.exit(3)\n", 2, "SystemExit: 3", id="exits"),
        pytest.param(
            "import pytools_dependency_that_is_missing\n",
            1,
            "No module named 'pytools_dependency_that_is_missing'",
            id="missing-dependency",
        ),
    ],
)
@pytest.mark.usefixtures("isolated_imports")
def test_a_module_that_fails_to_import_names_the_file_and_line(
    tmp_path: Path, body: str, line: int, detail: str
) -> None:
    (tmp_path / "pytools_broken.py").write_text(body, encoding="utf-8")

    with pytest.raises(ToolLoadError) as caught:
        python_source("pytools_broken", tmp_path, StaticSecrets())

    message = str(caught.value)
    assert message.startswith(
        f"cannot import tool module 'pytools_broken' ({tmp_path / 'pytools_broken.py'}:{line}): "
    )
    assert detail in message
    assert "\n" not in message and "Traceback" not in message


def test_a_module_without_tools_is_a_load_error(load: Loader) -> None:
    with pytest.raises(ToolLoadError, match=r"defines no tools; decorate functions with `@tool`"):
        load("def helper() -> int:\n    return 1\n")


@pytest.mark.usefixtures("isolated_imports")
def test_a_package_may_re_export_tools_from_its_submodules(tmp_path: Path) -> None:
    package = tmp_path / "pytools_pkg"
    package.mkdir()
    (package / "orders.py").write_text(
        "from bridge import tool\n\n@tool\ndef get_order(order_id: str) -> str:\n"
        "    return order_id\n",
        encoding="utf-8",
    )
    (package / "__init__.py").write_text(
        "from pytools_pkg.orders import get_order\n\n__all__ = ['get_order']\n", encoding="utf-8"
    )

    source = python_source("pytools_pkg", tmp_path, StaticSecrets())

    assert [spec.name for spec in source.tools()] == ["get_order"]


@pytest.mark.usefixtures("isolated_imports")
def test_loading_twice_gives_independent_sources(tmp_path: Path) -> None:
    (tmp_path / "pytools_twice.py").write_text(
        "from bridge import tool\n\n@tool\ndef once() -> int:\n    return 1\n", encoding="utf-8"
    )

    first = python_source("pytools_twice", tmp_path, StaticSecrets())
    second = python_source("pytools_twice", tmp_path, StaticSecrets())

    assert [s.name for s in first.tools()] == [s.name for s in second.tools()] == ["once"]
    assert first.tools()[0] is not second.tools()[0]


@pytest.fixture
def examples(isolated_imports: None) -> dict[str, ToolSpec]:
    config = load_config(EXAMPLES / "bridge.toml", environ={})
    registry = build_registry(config, StaticSecrets())
    return {spec.name: spec for spec in registry.tools()}


def test_the_example_tools_are_served(examples: dict[str, ToolSpec]) -> None:
    assert sorted(examples) == [
        "adjust_stock",
        "discontinue_item",
        "find_items",
        "get_item",
        "read_doc",
        "run_tests",
        "search_docs",
        "stock_summary",
    ]


def test_the_example_inventory_answers_lookups(examples: dict[str, ToolSpec]) -> None:
    found = call(examples["find_items"], {"query": "battery"})
    summary = call(examples["stock_summary"])

    assert "BT-2003" in text(found)
    assert summary.structured_content is not None
    assert summary.structured_content["items"] == 32
    assert "CH-3004" in summary.structured_content["below_reorder_level"]


def test_the_example_inventory_moves_stock_and_refuses_overdrafts(
    examples: dict[str, ToolSpec],
) -> None:
    before = call(examples["get_item"], {"sku": "pl-5001"}).structured_content
    assert before is not None

    after = call(
        examples["adjust_stock"], {"sku": "PL-5001", "delta": 5, "reason": "PO 4471 received"}
    ).structured_content

    assert after is not None and after["quantity"] == before["quantity"] + 5
    with pytest.raises(ToolError, match="cannot issue"):
        call(examples["adjust_stock"], {"sku": "PL-5001", "delta": -10_000, "reason": "oops"})


def test_the_example_docs_search_finds_and_reads_pages(examples: dict[str, ToolSpec]) -> None:
    hits = call(examples["search_docs"], {"query": "how do I roll back a deploy"})
    page = call(examples["read_doc"], {"path": "deploying-services.md"})

    assert hits.structured_content is not None
    assert hits.structured_content["result"][0]["path"] == "deploying-services.md"
    assert text(page).startswith("# Deploying a service")
    with pytest.raises(ToolError, match="no page"):
        call(examples["read_doc"], {"path": "../bridge.toml"})


@pytest.mark.usefixtures("isolated_imports")
def test_the_optional_supplier_example_uses_its_vault_secret() -> None:
    secrets = StaticSecrets({"supplier-api-key": SECRET})
    (spec,) = python_source("supplier", EXAMPLES, secrets).tools()

    quote = call(spec, {"sku": "AX-1001", "quantity": 30})
    missing = python_source("supplier", EXAMPLES, StaticSecrets()).tools()[0]

    assert quote.structured_content is not None
    assert quote.structured_content["discount_percent"] == 5.0
    assert quote.structured_content["quote_id"].startswith("Q-")
    assert SECRET not in text(quote)
    assert sorted(spec.input_schema["properties"]) == ["quantity", "sku"]
    with pytest.raises(ToolError, match="secret 'supplier-api-key' is not available"):
        call(missing, {"sku": "AX-1001", "quantity": 1})
