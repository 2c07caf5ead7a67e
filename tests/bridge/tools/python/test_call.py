"""Calling Python tools: results, threads, errors, cancellation, secrets."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError

from bridge import Secrets
from bridge.tools.secrets import StaticSecrets
from tests.bridge.tools.python.support import BASICS, CONTEXT, SECRET, Loader, call, text


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
