"""Python tool modules: the ``tool`` decorator, schemas, calls, secrets, errors, loading."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent

import bridge
from bridge import Secrets, tool
from bridge.config import load_config
from bridge.errors import ToolLoadError
from bridge.tools.loader import build_registry
from bridge.tools.python import tool_meta
from bridge.tools.python.source import python_source
from bridge.tools.registry import CallContext, ToolSpec
from bridge.tools.secrets import SecretResolver, StaticSecrets

CONTEXT = CallContext(timeout=10, max_output=64 * 1024)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRET = "sk-live-7Hq2Zx9Lm4Pw8Rt6"

Loader = Callable[..., dict[str, ToolSpec]]


@pytest.fixture
def isolated_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tool modules imported by a test, and the import path it added, do not outlive it."""
    before = list(sys.path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    added = [entry for entry in sys.path if entry not in before]
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if any(origin.startswith(entry + os.sep) for entry in added):
            del sys.modules[name]


@pytest.fixture
def load(tmp_path: Path, isolated_imports: None) -> Loader:
    """Write ``body`` as a fresh module in tmp_path and load it as a tool source."""

    def load(body: str, secrets: SecretResolver | None = None) -> dict[str, ToolSpec]:
        name = f"pytools_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
        source = python_source(name, tmp_path, secrets or StaticSecrets())
        assert source.name == f"python:{name}"
        return {spec.name: spec for spec in source.tools()}

    return load


def call(spec: ToolSpec, arguments: dict[str, Any] | None = None) -> CallToolResult:
    return anyio.run(spec.call, arguments or {}, CONTEXT)


def text(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


# The decorator


def test_the_decorator_returns_the_function_itself_and_registers_nothing() -> None:
    def lookup(sku: str) -> str:
        return sku

    marked = tool(lookup)
    configured = tool(name="find", read_only=True)(lookup)

    assert marked is lookup and configured is lookup
    assert lookup("A-1") == "A-1"
    meta = tool_meta(lookup)
    assert meta is not None and meta.name == "find" and meta.read_only is True
    assert tool_meta(len) is None


def test_the_decorator_with_empty_parentheses_marks_too() -> None:
    @tool()
    def ping() -> str:
        return "pong"

    meta = tool_meta(ping)
    assert meta is not None and meta.name is None and meta.secrets == ()


def test_secrets_must_be_a_list_not_a_string() -> None:
    with pytest.raises(TypeError, match=r"secrets=\['crm-key'\]"):
        tool(secrets="crm-key")


def test_importing_bridge_stays_light() -> None:
    code = (
        "import sys, bridge; heavy = ['uvicorn', 'anthropic', 'starlette', 'mcp'];"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_package_exports_what_it_lists() -> None:
    assert {"tool", "Secrets"} <= set(bridge.__all__)
    assert all(hasattr(bridge, name) for name in bridge.__all__)


# Schemas, descriptions, annotations


BASICS = """
    from __future__ import annotations
    from typing import Annotated
    from pydantic import BaseModel, Field
    from bridge import tool

    class Item(BaseModel):
        sku: str
        quantity: int

    @tool
    def lookup(sku: str, limit: Annotated[int, Field(ge=1, le=10)] = 3) -> Item:
        '''Look up one item.

        More detail for the agent.
        '''
        return Item(sku=sku, quantity=limit)

    @tool(name="count_items", title="Count items", description="How many items match.",
          read_only=True, timeout="2m")
    async def count(prefix: str = "") -> int:
        return len(prefix)

    @tool(destructive=True)
    def purge(days: int) -> None:
        return None

    @tool(structured_output=False)
    def plain(n: int) -> int:
        return n * 2

    @tool(destructive=False)
    def restock(sku: str, by: int) -> dict[str, int]:
        return {sku: by}

    def helper() -> None:
        "Not decorated: not a tool."
"""


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


# Calls


def test_a_typed_return_is_structured_output(load: Loader) -> None:
    result = call(load(BASICS)["lookup"], {"sku": "AX-1", "limit": 7})

    assert result.is_error is False
    assert result.structured_content == {"sku": "AX-1", "quantity": 7}
    assert '"quantity": 7' in text(result)


def test_a_primitive_return_is_wrapped_as_result(load: Loader) -> None:
    result = call(load(BASICS)["count_items"], {"prefix": "abcd"})

    assert result.structured_content == {"result": 4}
    assert text(result) == "4"


def test_structured_output_can_be_turned_off(load: Loader) -> None:
    spec = load(BASICS)["plain"]

    result = call(spec, {"n": 21})

    assert spec.output_schema is None
    assert result.structured_content is None
    assert text(result) == "42"


def test_sync_tools_run_in_a_worker_thread_and_async_ones_on_the_loop(load: Loader) -> None:
    specs = load(
        """
        import threading
        from bridge import tool

        @tool
        def sync_thread() -> int:
            return threading.get_ident()

        @tool
        async def async_thread() -> int:
            return threading.get_ident()
        """
    )

    async def main() -> tuple[Any, Any, int]:
        sync = await specs["sync_thread"].call({}, CONTEXT)
        asynchronous = await specs["async_thread"].call({}, CONTEXT)
        return sync.structured_content, asynchronous.structured_content, threading.get_ident()

    sync, asynchronous, loop_thread = anyio.run(main)
    assert sync is not None and asynchronous is not None
    assert asynchronous["result"] == loop_thread
    assert sync["result"] != loop_thread


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        pytest.param({}, "sku", id="missing"),
        pytest.param({"sku": "A", "limit": 11}, "limit", id="out-of-range"),
        pytest.param({"sku": "A", "limit": "many"}, "limit", id="wrong-type"),
    ],
)
def test_invalid_arguments_raise_a_tool_error_naming_the_field(
    load: Loader, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(ToolError) as caught:
        call(load(BASICS)["lookup"], arguments)

    assert not isinstance(caught.value, UnexpectedToolError)
    assert str(caught.value).startswith("Error executing tool lookup: ")
    assert f"\n{field}\n" in str(caught.value)


FAILING = """
    from mcp.server.mcpserver.exceptions import ToolError
    from bridge import tool

    @tool
    def refuse(reason: str) -> str:
        raise ToolError(reason)

    @tool
    async def crash() -> str:
        raise RuntimeError("internal detail: db password is hunter2")
"""


def test_a_tool_error_reaches_the_agent_with_its_text(load: Loader) -> None:
    with pytest.raises(ToolError) as caught:
        call(load(FAILING)["refuse"], {"reason": "quota exceeded"})

    assert not isinstance(caught.value, UnexpectedToolError)
    assert str(caught.value) == "Error executing tool refuse: quota exceeded"


def test_a_crash_is_an_unexpected_error_that_withholds_the_detail(load: Loader) -> None:
    with pytest.raises(UnexpectedToolError) as caught:
        call(load(FAILING)["crash"])

    assert str(caught.value) == "Error executing tool crash"
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_a_hung_sync_tool_does_not_hold_a_cancelled_call(load: Loader) -> None:
    specs = load(
        """
        import threading
        from bridge import tool

        release = threading.Event()

        @tool
        def hang() -> str:
            release.wait(30)
            return "released"
        """
    )
    module = sys.modules[next(m for m in sys.modules if m.startswith("pytools_"))]

    async def main() -> float:
        started = time.monotonic()
        with anyio.move_on_after(0.2):
            await specs["hang"].call({}, CONTEXT)
        return time.monotonic() - started

    try:
        elapsed = anyio.run(main)
    finally:
        module.release.set()
    assert elapsed < 5


def test_cancelling_an_async_tool_cancels_its_task(load: Loader) -> None:
    specs = load(
        """
        import anyio
        from bridge import tool

        events = []

        @tool
        async def slow() -> str:
            try:
                await anyio.sleep(30)
            finally:
                events.append("cleaned up")
            return "done"
        """
    )
    module = sys.modules[next(m for m in sys.modules if m.startswith("pytools_"))]

    async def main() -> None:
        with anyio.move_on_after(0.1):
            await specs["slow"].call({}, CONTEXT)

    anyio.run(main)
    assert module.events == ["cleaned up"]


# Secrets


SECRETIVE = """
    from mcp.server.mcpserver.exceptions import ToolError
    from bridge import Secrets, tool

    seen = []

    @tool(secrets=["crm-key"])
    def crm_lookup(customer: str, secrets: Secrets) -> str:
        '''Look a customer up in the CRM.'''
        seen.append(repr(secrets))
        if customer == "leak":
            return f"the key is {secrets['crm-key']}"
        if customer == "refuse":
            raise ToolError(f"CRM refused key {secrets['crm-key']}")
        if customer == "crash":
            raise RuntimeError(f"HTTP 401 for https://crm/api?key={secrets['crm-key']}")
        if customer == "undeclared":
            return secrets["other-key"]
        if customer == "chained":
            try:
                raise ValueError(f"bad key {secrets['crm-key']}")
            except ValueError:
                raise RuntimeError("CRM call failed")  # the key rides along as __context__
        return f"{customer}: key of length {len(secrets['crm-key'])}"

    @tool(secrets=["crm-key"])
    async def crm_structured(secrets: Secrets) -> dict[str, str]:
        return {"nested": "token=" + secrets["crm-key"]}
"""


def test_the_secrets_parameter_is_not_in_the_schema(load: Loader) -> None:
    schema = load(SECRETIVE, StaticSecrets({"crm-key": SECRET}))["crm_lookup"].input_schema

    assert list(schema["properties"]) == ["customer"]
    assert schema["required"] == ["customer"]
    assert "secrets" not in str(schema).lower()


def test_secrets_are_read_at_call_time(load: Loader) -> None:
    store = {"crm-key": "first-value"}

    class Live:
        def exists(self, name: str) -> bool:
            return name in store

        def get(self, name: str) -> str:
            return store[name]

    spec = load(SECRETIVE, Live())["crm_lookup"]
    store["crm-key"] = "a-rotated-longer-value"

    assert text(call(spec, {"customer": "acme"})) == "acme: key of length 22"


def test_secrets_never_show_in_repr(load: Loader) -> None:
    specs = load(SECRETIVE, StaticSecrets({"crm-key": SECRET}))
    call(specs["crm_lookup"], {"customer": "acme"})
    module = sys.modules[next(m for m in sys.modules if m.startswith("pytools_"))]

    assert module.seen == ["Secrets(crm-key=***)"]
    assert SECRET not in repr(Secrets({"crm-key": SECRET}))
    assert SECRET not in str(Secrets({"crm-key": SECRET}))


def test_a_returned_secret_is_redacted(load: Loader) -> None:
    specs = load(SECRETIVE, StaticSecrets({"crm-key": SECRET}))

    plain = call(specs["crm_lookup"], {"customer": "leak"})
    structured = call(specs["crm_structured"])

    assert text(plain) == "the key is [redacted]"
    assert plain.structured_content == {"result": "the key is [redacted]"}
    assert structured.structured_content == {"nested": "token=[redacted]"}
    assert SECRET not in text(structured)


@pytest.mark.parametrize("customer", ["refuse", "crash"])
def test_a_secret_in_an_error_is_redacted_everywhere_a_log_would_look(
    load: Loader, customer: str
) -> None:
    specs = load(SECRETIVE, StaticSecrets({"crm-key": SECRET}))

    with pytest.raises(ToolError) as caught:
        call(specs["crm_lookup"], {"customer": customer})

    logged = "".join(traceback.format_exception(caught.value))
    assert SECRET not in logged
    assert "[redacted]" in logged
    assert str(caught.value).startswith("Error executing tool crm_lookup")


def test_a_secret_deeper_in_the_exception_chain_stays_out_of_the_traceback(
    load: Loader,
) -> None:
    specs = load(SECRETIVE, StaticSecrets({"crm-key": SECRET}))

    with pytest.raises(ToolError) as caught:
        call(specs["crm_lookup"], {"customer": "chained"})

    logged = "".join(traceback.format_exception(caught.value))
    assert SECRET not in logged
    assert "CRM call failed" in logged
    assert str(caught.value).startswith("Error executing tool crm_lookup")


def test_an_undeclared_secret_is_a_key_error_naming_it(load: Loader) -> None:
    specs = load(SECRETIVE, StaticSecrets({"crm-key": SECRET, "other-key": "x" * 10}))

    with pytest.raises(UnexpectedToolError) as caught:
        call(specs["crm_lookup"], {"customer": "undeclared"})

    assert "other-key" in str(caught.value.__cause__)
    assert "declared" in str(caught.value.__cause__)


def test_a_missing_secret_is_a_tool_error_naming_it(load: Loader) -> None:
    specs = load(SECRETIVE, StaticSecrets())

    with pytest.raises(ToolError) as caught:
        call(specs["crm_lookup"], {"customer": "acme"})

    assert not isinstance(caught.value, UnexpectedToolError)
    assert "secret 'crm-key' is not available" in str(caught.value)
    assert "mcp-vault add crm-key --kind secret" in str(caught.value)


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


# Loading modules


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


# The examples


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
