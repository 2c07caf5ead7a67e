"""The example's other sources through a live bridge: the flags MCP server and the orders service,
configured as ``examples/bridge.toml`` shows them."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from tests.bridge.conftest import RunningBridge, connect
from tests.support.live import LiveServer, serve
from tests.support.output import Lines
from vaults.store import Store

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORDERS_KEY = "orders-key-9f2c41d07be3"
StartBridge = Callable[..., RunningBridge]


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


def _example_block(header: str) -> str:
    """The ``[[tools.KIND]]`` block of examples/bridge.toml, uncommented."""
    lines = (EXAMPLES / "bridge.toml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip("# ") == header)
    block: list[str] = []
    for line in lines[start:]:
        text = line[2:] if line.startswith("# ") else line
        if not text.strip() or (block and text.startswith("[")):
            break
        block.append(text)
    return "\n".join(block) + "\n"


@pytest.fixture
def flags_file(tmp_path: Path) -> Path:
    copy = tmp_path / "flags.json"
    shutil.copy(EXAMPLES / "data" / "flags.json", copy)
    return copy


@pytest.fixture
def orders() -> Iterator[LiveServer]:
    with serve(_module("orders_service").orders_app(ORDERS_KEY)) as live:
        yield live


def _flags_block(flags_file: Path) -> str:
    server = str(EXAMPLES / "flags_server.py")
    block = _example_block("[[tools.mcp]]")
    assert 'command = ["python", "flags_server.py"]' in block
    return block.replace('"flags_server.py"', json.dumps(server)) + (
        f"env = {{ FLAGS_FILE = {json.dumps(str(flags_file))} }}\n"
    )


@pytest.mark.parametrize("transport", ["sse", "http"])
async def test_the_flags_server_is_served_read_only_through_the_bridge(
    start_bridge: StartBridge, flags_file: Path, transport: str
) -> None:
    bridge = start_bridge(_flags_block(flags_file))
    async with connect(bridge, transport) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        one = await client.call_tool("flags_get_flag", {"name": "new-checkout"})
        listed = await client.call_tool("flags_list_flags", {"enabled": False})
        missing = await client.call_tool("flags_get_flag", {"name": "dark-mode"})

    flag_tools = {name for name in tools if name.startswith("flags_")}
    assert flag_tools == {"flags_list_flags", "flags_get_flag"}  # set_flag is denied
    assert all(tools[name].annotations.read_only_hint for name in flag_tools)  # type: ignore[union-attr]
    assert one.structured_content is not None
    assert one.structured_content["rollout_percent"] == 25
    assert one.structured_content["owner"] == "payments"
    assert listed.structured_content is not None
    names = [flag["name"] for flag in listed.structured_content["result"]]
    assert names == ["bulk-refunds", "legacy-invoices"]
    assert missing.is_error and "no flag named 'dark-mode'" in _text(missing)


async def test_set_flag_is_destructive_and_changes_the_file(flags_file: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(EXAMPLES / "flags_server.py")],
        env={"FLAGS_FILE": str(flags_file), "PATH": os.environ["PATH"]},
    )
    async with Client(stdio_client(params), mode="legacy") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        changed = await client.call_tool(
            "set_flag", {"name": "bulk-refunds", "enabled": True, "rollout_percent": 10}
        )
        refused = await client.call_tool(
            "set_flag", {"name": "bulk-refunds", "enabled": True, "rollout_percent": 101}
        )

    annotations = tools["set_flag"].annotations
    assert annotations is not None and annotations.destructive_hint
    assert not annotations.read_only_hint
    assert not changed.is_error and refused.is_error
    saved = {f["name"]: f for f in json.loads(flags_file.read_text())["flags"]}
    assert saved["bulk-refunds"]["enabled"] is True
    assert saved["bulk-refunds"]["rollout_percent"] == 10
    assert saved["new-checkout"]["rollout_percent"] == 25


@pytest.mark.parametrize("transport", ["sse", "http"])
async def test_the_orders_service_works_through_the_bridge_with_its_key_from_the_vault(
    start_bridge: StartBridge, store: Store, orders: LiveServer, transport: str
) -> None:
    store.add_secret("orders-api-key", ORDERS_KEY)
    block = _example_block("[[tools.openapi]]").replace("http://127.0.0.1:8780", orders.url)
    assert 'headers = { X-Api-Key = "vault:orders-api-key" }' in block
    bridge = start_bridge(block)
    async with connect(bridge, transport) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        paid = await client.call_tool("orders_listOrders", {"status": "paid"})
        one = await client.call_tool("orders_getOrder", {"order_id": "SO-10042"})
        shipped = await client.call_tool(
            "orders_cancelOrder", {"order_id": "SO-10040", "body": {"reason": "late"}}
        )
        cancelled = await client.call_tool(
            "orders_cancelOrder", {"order_id": "SO-10042", "body": {"reason": "duplicate"}}
        )
        missing = await client.call_tool("orders_getOrder", {"order_id": "SO-1"})

    assert {"orders_listOrders", "orders_getOrder", "orders_cancelOrder"} <= set(tools)
    assert tools["orders_getOrder"].annotations.read_only_hint  # type: ignore[union-attr]
    assert not tools["orders_cancelOrder"].annotations.read_only_hint  # type: ignore[union-attr]
    assert paid.structured_content is not None
    assert [o["id"] for o in paid.structured_content["orders"]] == ["SO-10041"]
    assert one.structured_content is not None and one.structured_content["total"] == 147.5
    assert shipped.is_error and "409" in _text(shipped) and "shipped already" in _text(shipped)
    assert cancelled.structured_content is not None
    assert cancelled.structured_content["status"] == "cancelled"
    assert missing.is_error and "404" in _text(missing)
    seen = json.dumps([r.model_dump(mode="json") for r in (paid, one, shipped, cancelled)])
    assert ORDERS_KEY not in seen + json.dumps([t.model_dump(mode="json") for t in tools.values()])


async def test_the_orders_service_refuses_a_call_without_its_key(orders: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=orders.url, timeout=10) as http:
        spec = await http.get("/openapi.json")
        anonymous = await http.get("/api/orders")
        wrong = await http.get("/api/orders", headers={"X-Api-Key": "guess"})
        right = await http.get("/api/orders", headers={"X-Api-Key": ORDERS_KEY})

    assert spec.status_code == 200 and spec.json()["info"]["title"] == "Orders"
    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert ORDERS_KEY not in anonymous.text + wrong.text


def test_the_orders_service_runs_as_a_script(tmp_path: Path) -> None:
    script = str(EXAMPLES / "orders_service.py")
    without = subprocess.run(
        [sys.executable, script],
        env={k: v for k, v in os.environ.items() if k != "ORDERS_API_KEY"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert without.returncode == 2 and "ORDERS_API_KEY" in without.stderr

    proc = subprocess.Popen(
        [sys.executable, script, "--port", "0"],
        env={**os.environ, "ORDERS_API_KEY": ORDERS_KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = Lines(proc.stdout).until(r"Uvicorn running on (http://\S+)").group(1)
        answer = httpx.get(f"{url}/api/orders/SO-10039", headers={"X-Api-Key": ORDERS_KEY})
        assert answer.status_code == 200 and answer.json()["status"] == "delivered"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
