"""Internal HTTP services described by OpenAPI, through the running bridge."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp.types import ToolListChangedNotification

from bridge.tools.loader import build_registry
from bridge.tools.secrets import StaticSecrets
from tests.bridge.backends.inventory import inventory_app
from tests.bridge.configs import load_toml
from tests.bridge.conftest import connect
from tests.bridge.tools.openapi.support import (
    SECRET,
    StartBridge,
    inventory_toml,
    late_toml,
    text,
    wait_ready,
)
from tests.support.live import LiveServer, free_socket, serve
from vaults import rotate
from vaults.store import Store

pytestmark = pytest.mark.anyio


async def test_operations_become_tools_and_calls_work(
    service: tuple[LiveServer, list[dict[str, str]]],
    start_bridge: StartBridge,
    store: Store,
    transport: str,
) -> None:
    live, _ = service
    store.add_secret("inventory-key", SECRET)
    bridge = start_bridge(inventory_toml(live.url))
    async with connect(bridge, transport) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        got = await client.call_tool("inv_getItem", {"item_id": 1})
        listed = await client.call_tool("inv_listItems", {"limit": 1, "tag": None})
        created = await client.call_tool("inv_createItem", {"body": {"name": "gear", "price": 3}})
        missing = await client.call_tool("inv_getItem", {"item_id": 99})
        broken = await client.call_tool("inv_broken", {})
    assert {"inv_listItems", "inv_getItem", "inv_createItem", "inv_deleteItem"} <= set(tools)
    assert "inv_resetAll" not in tools
    assert got.structured_content == {"id": 1, "name": "bolt", "price": 0.5}
    assert listed.structured_content == {
        "items": [{"id": 1, "name": "bolt", "price": 0.5}],
        "limit": 1,
        "tags": [],
    }
    assert created.structured_content == {"id": 3, "name": "gear", "price": 3}
    assert missing.is_error and "HTTP 404" in text(missing) and "no item 99" in text(missing)
    assert broken.is_error and "HTTP 500" in text(broken) and "database exploded" in text(broken)
    assert len(text(broken)) < 700


@pytest.mark.parametrize("transport", ["sse", "http"])
async def test_the_services_credential_reaches_it_and_never_the_agent(
    service: tuple[LiveServer, list[dict[str, str]]],
    start_bridge: StartBridge,
    store: Store,
    spec_file: Path,
    transport: str,
) -> None:
    live, seen = service
    store.add_secret("inventory-key", SECRET)
    bridge = start_bridge(
        inventory_toml(live.url)
        + f"""
[[tools.openapi]]
name = "keyed"
spec = "{spec_file}"
base_url = "{live.url}/api"
headers = {{ X-Api-Key = "vault:inventory-key", X-Team = "platform" }}
include = ["whoami", "report"]
deny = ["report"]
rename = {{ whoami = "who" }}
descriptions = {{ whoami = "The credential the service saw" }}
prefix = "keyed_"
"""
    )
    async with connect(bridge, transport) as client:
        tools = (await client.list_tools()).tools
        bearer = await client.call_tool("inv_whoami", {})
        keyed = await client.call_tool("keyed_who", {})
    api_calls = [headers for headers in seen if "x-team" in headers or "authorization" in headers]
    keyed_tools = [(t.name, t.description) for t in tools if t.name.startswith("keyed_")]
    assert keyed_tools == [("keyed_who", "The credential the service saw")]
    assert bearer.structured_content == {"authorization": "Bearer [redacted]", "x-api-key": None}
    assert keyed.structured_content == {"authorization": None, "x-api-key": "[redacted]"}
    assert SECRET not in text(bearer) + text(keyed) + repr(tools)
    assert {"Bearer " + SECRET} == {h["authorization"] for h in api_calls if "authorization" in h}
    assert all(h["x-api-key"] == SECRET for h in api_calls if "x-team" in h)
    assert not any(bridge.token in value for headers in seen for value in headers.values())


async def test_large_text_head_and_text_bodies(
    service: tuple[LiveServer, list[dict[str, str]]], start_bridge: StartBridge, store: Store
) -> None:
    live, _ = service
    store.add_secret("inventory-key", SECRET)
    bridge = start_bridge(inventory_toml(live.url))
    async with connect(bridge, "http") as client:
        big = await client.call_tool("inv_big", {"kib": 1024})
        report = await client.call_tool("inv_report", {})
        head = await client.call_tool("inv_headItem", {"item_id": 2})
        note = await client.call_tool("inv_addNote", {"body": "hello there"})
        deleted = await client.call_tool("inv_deleteItem", {"item_id": 2})
    assert "truncated" in text(big) and len(text(big)) < 70_000
    assert text(report) == "all good"
    assert not head.is_error and text(head).startswith("HTTP 200")
    assert text(note) == "noted: hello there"
    assert not deleted.is_error and text(deleted).startswith("HTTP 204")


async def test_invalid_arguments_are_refused_before_any_request(
    service: tuple[LiveServer, list[dict[str, str]]], start_bridge: StartBridge, store: Store
) -> None:
    live, seen = service
    store.add_secret("inventory-key", SECRET)
    bridge = start_bridge(inventory_toml(live.url))
    before = len(seen)
    async with connect(bridge, "http") as client:
        wrong = await client.call_tool("inv_getItem", {"item_id": "seven"})
        extra = await client.call_tool("inv_report", {"surprise": 1})
    assert wrong.is_error and "item_id" in text(wrong)
    assert extra.is_error and "surprise" in text(extra)
    assert len(seen) == before


async def test_an_unreachable_service_is_an_error_and_readyz_says_so_until_it_is_back(
    start_bridge: StartBridge, store: Store, spec_file: Path
) -> None:
    with free_socket() as sock:  # bound, not listening yet: connections are refused
        port = sock.getsockname()[1]
        store.add_secret("inventory-key", SECRET)
        bridge = start_bridge(f"""
        [[tools.openapi]]
        name = "down"
        spec = "{spec_file}"
        base_url = "http://127.0.0.1:{port}/api"
        bearer = "vault:inventory-key"
        """)
        async with httpx.AsyncClient(base_url=bridge.url) as http:
            at_start = await http.get("/readyz")
        async with connect(bridge, "http") as client:
            result = await client.call_tool("report", {})
        async with httpx.AsyncClient(base_url=bridge.url) as http:
            ready = await http.get("/readyz")
        with serve(inventory_app(SECRET, []), sock=sock):
            await wait_ready(bridge)  # with no call in between
            async with connect(bridge, "http") as client:
                back = await client.call_tool("report", {})
    assert at_start.status_code == 503 and at_start.json()["sources"]["openapi:down"] is False
    assert result.is_error and "cannot reach the service 'down'" in text(result)
    assert ready.status_code == 503 and ready.json()["sources"]["openapi:down"] is False
    assert text(back) == "all good"


@pytest.mark.parametrize("transport", ["sse", "http-legacy"])
async def test_a_spec_url_down_at_boot_loads_later_and_connected_clients_are_told(
    start_bridge: StartBridge, store: Store, transport: str
) -> None:
    store.add_secret("inventory-key", SECRET)
    changed = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    seen: list[dict[str, str]] = []
    with free_socket() as sock:  # bound, not listening yet: connections are refused
        bridge = start_bridge(late_toml(sock.getsockname()[1]))
        async with httpx.AsyncClient(base_url=bridge.url) as http:
            at_start = await http.get("/readyz")
        async with connect(bridge, transport, message_handler=on_message) as client:
            before = {t.name for t in (await client.list_tools()).tools}
            early = await client.call_tool("inv_report", {})
            with serve(inventory_app(SECRET, seen, spec_needs_auth=True), sock=sock):
                with anyio.fail_after(10):
                    await changed.wait()
                after = {t.name for t in (await client.list_tools()).tools}
                report = await client.call_tool("inv_report", {})
                await wait_ready(bridge)
    assert at_start.status_code == 503
    assert at_start.json()["sources"]["openapi:inventory"] is False
    assert "greet" in before and not any(name.startswith("inv_") for name in before)
    assert early.is_error and "inv_report" in text(early)
    assert {"inv_report", "inv_getItem", "inv_listItems"} <= after and "inv_resetAll" not in after
    assert text(report) == "all good"
    assert seen[0]["authorization"] == f"Bearer {SECRET}"  # the document needs the credential


async def test_late_tools_leave_out_names_other_sources_already_serve(
    tmp_path: Path, spec_file: Path
) -> None:
    with free_socket() as sock:
        config = load_toml(
            tmp_path,
            f"""
[[tools.command]]
name = "inv_report"
argv = ["true"]
{late_toml(sock.getsockname()[1])}
""",
        )
        registry = build_registry(config, StaticSecrets({"inventory-key": SECRET}))
        late = registry.sources[1]
        await late.start()
        try:
            with serve(inventory_app(SECRET, []), sock=sock):
                deadline = time.monotonic() + 10
                while not late.healthy():
                    assert time.monotonic() < deadline, "the document never loaded"
                    await anyio.sleep(0.05)
                names = [spec.name for spec in registry.tools()]
                owner = registry.get("inv_report")
        finally:
            await late.stop()
    assert names.count("inv_report") == 1 and owner is not None
    assert owner.source == "command:inv_report"
    assert "inv_getItem" in names


async def test_a_rotated_service_secret_is_sent_within_a_second(
    service: tuple[LiveServer, list[dict[str, str]]],
    start_bridge: StartBridge,
    store: Store,
) -> None:
    live, seen = service
    store.add_secret("inventory-key", SECRET)
    bridge = start_bridge(inventory_toml(live.url))
    async with connect(bridge, "http") as client:
        await client.call_tool("inv_whoami", {})
        assert seen[-1]["authorization"] == "Bearer " + SECRET
        rotate(store, "inventory-key", value="the-next-secret")
        rotated = time.monotonic()
        while seen[-1]["authorization"] != "Bearer the-next-secret":
            assert time.monotonic() - rotated < 1.0, "the old secret was still sent after 1 s"
            await anyio.sleep(0.02)
            await client.call_tool("inv_whoami", {})
