"""Proxied MCP servers through the running bridge: a stdio child and a remote server."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.types import ToolListChangedNotification

from bridge.tools.mcp.config import McpToolsConfig
from bridge.tools.mcp.source import McpSource
from bridge.tools.registry import CallContext
from bridge.tools.secrets import StaticSecrets
from tests.bridge.backends.remote import remote_app
from tests.bridge.configs import load_toml
from tests.bridge.conftest import RunningBridge, connect
from tests.bridge.tools.mcp.support import (
    STDIO_SERVER,
    StartBridge,
    stdio_toml,
    text,
)
from tests.support.live import LiveServer, serve
from vaults.store import Store

pytestmark = pytest.mark.anyio


async def test_stdio_tools_are_listed_with_the_prefix_and_calls_work(
    start_bridge: StartBridge,
    store: Store,
    record: Path,
    transport: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.mcp")
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record))
    seen: list[float] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(value)

    async with connect(bridge, transport) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        added = await client.call_tool("files_add", {"a": 2, "b": 40})
        counted = await client.call_tool("files_count", {"n": 3}, progress_callback=progress)
        length = await client.call_tool("files_secret_length", {})
    assert {"files_echo", "files_add", "files_count", "echo"} <= set(tools)
    assert "add" not in tools or tools["add"].description != tools["files_add"].description
    assert tools["files_add"].input_schema["properties"]["a"]["type"] == "integer"
    assert added.structured_content == {"result": 42}
    assert counted.structured_content == {"result": "counted 3"}
    assert seen == [1.0, 2.0, 3.0]
    assert length.structured_content == {"result": len("child-secret-value")}
    forwarded = [r.getMessage() for r in caplog.records if r.name == "bridge.mcp"]
    assert "MCP server 'files': counted 3" in forwarded


async def _ready(bridge: RunningBridge) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        response = await http.get("/readyz")
    return response.status_code, response.json()


async def _wait_ready(
    bridge: RunningBridge, status: int, within: float = 10.0
) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        code, body = await _ready(bridge)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"/readyz still {code}: {body}"
        await anyio.sleep(0.05)


@pytest.mark.parametrize("transport", ["sse", "http"])
async def test_a_crashed_child_fails_fast_while_down_and_is_restarted(
    start_bridge: StartBridge, store: Store, record: Path, transport: str
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record))
    async with connect(bridge, transport) as client:
        first = (await client.call_tool("files_whoami", {})).structured_content
        (record / "block").touch()  # restarts fail until it is gone
        crashed = await client.call_tool("files_crash", {})
        body = await _wait_ready(bridge, 503)
        started = time.monotonic()
        down = await client.call_tool("files_echo", {"text": "hello"})
        elapsed = time.monotonic() - started
        (record / "block").unlink()
        await _wait_ready(bridge, 200)
        again = await client.call_tool("files_whoami", {})
        echoed = await client.call_tool("files_echo", {"text": "back"})
    assert crashed.is_error and "went away" in text(crashed)
    assert body["sources"] == {**body["sources"], "mcp:files": False}  # type: ignore[dict-item]
    assert [k for k, v in body["sources"].items() if not v] == ["mcp:files"]  # type: ignore[union-attr]
    assert down.is_error and "'files' is down" in text(down)
    assert elapsed < 1.0
    assert first is not None and again.structured_content is not None
    assert again.structured_content["result"] != first["result"]
    assert echoed.structured_content == {"result": "back"}


async def test_a_child_that_cannot_start_leaves_the_bridge_up_and_not_ready(
    start_bridge: StartBridge, store: Store, record: Path
) -> None:
    store.add_secret("files-token", "child-secret-value")
    (record / "block").touch()
    bridge = start_bridge(stdio_toml(record))
    code, body = await _ready(bridge)
    async with connect(bridge, "http") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        echoed = await client.call_tool("echo", {"text": "still serving"})
    assert code == 503 and body["sources"]["mcp:files"] is False  # type: ignore[index]
    assert "echo" in names and not any(n.startswith("files_") for n in names)
    assert echoed.structured_content == {"result": "still serving"}


async def _calls(record: Path, event: str, within: float = 10.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + within
    while True:
        rows = [
            json.loads(line)
            for path in record.glob("calls-*.jsonl")
            for line in path.read_text().splitlines()
        ]
        found = [row for row in rows if row["event"] == event]
        if found:
            return found
        assert time.monotonic() < deadline, f"no {event!r} call recorded: {rows}"
        await anyio.sleep(0.05)


async def test_cancelling_a_call_cancels_it_in_the_child(
    start_bridge: StartBridge, store: Store, record: Path, transport: str
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record))
    async with connect(bridge, transport) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "files_wait", {})
            started = await _calls(record, "started")
            group.cancel_scope.cancel()
        cancelled = await _calls(record, "cancelled")
        after = await client.call_tool("files_echo", {"text": "alive"})
    assert [row["request"] for row in cancelled] == [row["request"] for row in started]
    assert after.structured_content == {"result": "alive"}


async def test_a_timed_out_call_is_cancelled_in_the_child(
    start_bridge: StartBridge, store: Store, record: Path
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record, extra='timeout = "0.5s"'))
    async with connect(bridge, "http") as client:
        result = await client.call_tool("files_wait", {})
    cancelled = await _calls(record, "cancelled")
    assert result.is_error and "timed out" in text(result)
    assert len(cancelled) == 1


async def test_the_child_gets_a_clean_environment_and_never_the_callers_token(
    start_bridge: StartBridge, store: Store, record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_PRIVATE_SETTING", "not-for-children")
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record))
    async with connect(bridge, "sse") as client:
        await client.call_tool("files_echo", {"text": "hi"})
    (dump,) = record.glob("env-*.json")
    env = json.loads(dump.read_text())
    assert env["API_TOKEN"] == "child-secret-value"
    assert "BRIDGE_PRIVATE_SETTING" not in env and "MCP_VAULT_DIR" not in env
    assert bridge.token not in dump.read_text()
    assert bridge.token not in "".join(p.read_text() for p in record.glob("calls-*.jsonl"))


async def test_the_childs_secrets_are_redacted_and_its_output_capped(
    start_bridge: StartBridge, store: Store, record: Path
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record))
    async with connect(bridge, "http") as client:
        leaked = await client.call_tool("files_leak", {})
        big = await client.call_tool("files_echo", {"text": "x" * 100_000})
    assert leaked.structured_content == {"token": "[redacted]"}
    assert "child-secret-value" not in text(leaked) and "[redacted]" in text(leaked)
    assert "output truncated" in text(big) and len(text(big).encode()) < 66_000


async def test_a_list_changed_notification_refreshes_the_tools(
    start_bridge: StartBridge, store: Store, record: Path
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record))
    async with connect(bridge, "http") as client:
        before = {t.name for t in (await client.list_tools()).tools}
        await client.call_tool("files_grow", {"name": "newt"})
        deadline = time.monotonic() + 5
        while "files_newt" not in {t.name for t in (await client.list_tools()).tools}:
            assert time.monotonic() < deadline, "the new tool never appeared"
            await anyio.sleep(0.05)
        grown = await client.call_tool("files_newt", {})
    assert "files_newt" not in before
    assert text(grown) == "I am newt"


@pytest.mark.parametrize("transport", ["sse", "http-legacy"])
async def test_connected_clients_are_told_when_the_proxied_tools_change(
    start_bridge: StartBridge, store: Store, record: Path, transport: str
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record))
    changed = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    async with connect(bridge, transport, message_handler=on_message) as client:
        await client.list_tools()
        await client.call_tool("files_grow", {"name": "newt"})
        with anyio.fail_after(5):
            await changed.wait()
        assert "files_newt" in {t.name for t in (await client.list_tools()).tools}


async def test_modern_clients_listening_are_told_when_the_proxied_tools_change(
    start_bridge: StartBridge, store: Store, record: Path
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record))
    async with connect(bridge, "http") as client:
        async with client.listen(tools_list_changed=True) as subscription:
            await client.call_tool("files_grow", {"name": "newt"})
            with anyio.fail_after(5):
                event = await subscription.__anext__()
        assert type(event).__name__ == "ToolsListChanged"
        assert "files_newt" in {t.name for t in (await client.list_tools()).tools}


@pytest.fixture
def remote() -> Iterator[tuple[LiveServer, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    with serve(remote_app("remote-secret-value", seen)) as live:
        yield live, seen


@pytest.mark.parametrize("path", ["/mcp", "/sse"], ids=["streamable-http", "sse"])
async def test_a_remote_server_gets_the_vault_bearer_and_never_the_callers_token(
    remote: tuple[LiveServer, list[dict[str, str]]],
    start_bridge: StartBridge,
    store: Store,
    path: str,
) -> None:
    live, seen = remote
    store.add_secret("remote-key", "remote-secret-value")
    bridge = start_bridge(f"""
    [[tools.mcp]]
    name = "remote"
    url = "{live.url}{path}"
    bearer = "vault:remote-key"
    headers = {{ X-Team = "platform" }}
    prefix = "far_"
    """)
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with connect(bridge, "http") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        echoed = await client.call_tool("far_echo", {"text": "over the wire"})
        counted = await client.call_tool("far_count", {"n": 2}, progress_callback=on_progress)
        revealed = await client.call_tool("far_credential", {})
    assert {"far_echo", "far_count"} <= names
    assert echoed.structured_content == {"result": "over the wire"}
    assert counted.structured_content == {"result": "counted 2"} and progress == [1.0, 2.0]
    assert seen and all(h["authorization"] == "Bearer remote-secret-value" for h in seen)
    assert all(h.get("x-team") == "platform" for h in seen)
    assert not any(bridge.token in value for h in seen for value in h.values())
    assert text(revealed) == "I accept Bearer [redacted]"


async def test_a_remote_server_that_refuses_the_bearer_leaves_the_source_down(
    remote: tuple[LiveServer, list[dict[str, str]]], start_bridge: StartBridge, store: Store
) -> None:
    live, _ = remote
    store.add_secret("remote-key", "a-wrong-value")
    bridge = start_bridge(f"""
    [[tools.mcp]]
    name = "remote"
    url = "{live.url}/mcp"
    bearer = "vault:remote-key"
    restart_delay = "5s"
    """)
    code, body = await _ready(bridge)
    assert code == 503 and body["sources"]["mcp:remote"] is False  # type: ignore[index]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


async def _wait_gone(pid: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not _gone(pid):
        assert time.monotonic() < deadline, f"process {pid} is still alive"
        await anyio.sleep(0.05)


async def _whoami(client: Client) -> int:
    result = await client.call_tool("files_whoami", {})
    assert result.structured_content is not None, text(result)
    return int(result.structured_content["result"])


@pytest.mark.parametrize("transport", ["sse", "http-legacy"])
async def test_per_client_gives_each_client_session_its_own_child_bounded(
    start_bridge: StartBridge, store: Store, record: Path, transport: str
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record, extra="per_client = true\nmax_processes = 2"))
    async with connect(bridge, transport) as first, connect(bridge, transport) as second:
        first_child = await _whoami(first)
        second_child = await _whoami(second)
        first_again = await _whoami(first)
        async with connect(bridge, transport) as third:
            third_child = await _whoami(third)  # max_processes = 2: the idle second child goes
            await _wait_gone(second_child)
            first_still = await _whoami(first)
            third_again = await _whoami(third)
    (boot,) = {int(p.stem.split("-")[1]) for p in record.glob("env-*.json")} - {
        first_child,
        second_child,
        third_child,
    }
    assert first_child == first_again == first_still
    assert third_child == third_again
    assert len({boot, first_child, second_child, third_child}) == 4
    assert not _gone(boot) and not _gone(first_child) and not _gone(third_child)


async def test_per_client_stateless_calls_share_one_child_per_credential(
    start_bridge: StartBridge, store: Store, record: Path
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record, extra="per_client = true\nmax_processes = 1"))
    other = store.add_token("second-agent").token

    async def whoami(token: str | None = None) -> int:
        async with connect(bridge, "http", token=token) as client:
            result = await client.call_tool("files_whoami", {})
        assert result.structured_content is not None, text(result)
        return int(result.structured_content["result"])

    first = await whoami()
    again = await whoami()
    second = await whoami(other)
    await _wait_gone(first)  # max_processes = 1: the idle child of the first caller made room
    (boot,) = {int(p.stem.split("-")[1]) for p in record.glob("env-*.json")} - {first, second}
    assert first == again
    assert len({boot, first, second}) == 3
    assert not _gone(boot) and not _gone(second)


@pytest.mark.parametrize("transport", ["sse", "http"])
async def test_curation_applies_to_proxied_tools(
    start_bridge: StartBridge, store: Store, record: Path, transport: str
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(
        stdio_toml(
            record,
            name="f",
            extra="""
allow = ["echo", "add*", "whoami"]
deny = ["whoami"]
rename = { add = "plus" }
descriptions = { echo = "Say it back" }
""",
        )
    )
    async with connect(bridge, transport) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        plus = await client.call_tool("f_plus", {"a": 1, "b": 2})
    assert {name for name in tools if name.startswith("f_")} == {"f_echo", "f_plus"}
    assert tools["f_echo"].description == "Say it back"
    assert plus.structured_content == {"result": 3}


async def test_a_proxied_tool_never_shadows_an_earlier_tool_of_the_same_name(
    start_bridge: StartBridge, store: Store, record: Path
) -> None:
    store.add_secret("files-token", "child-secret-value")
    bridge = start_bridge(stdio_toml(record).replace('prefix = "files_"', ""))
    async with connect(bridge, "http") as client:
        names = [t.name for t in (await client.list_tools()).tools]
        added = await client.call_tool("add", {"a": 1, "b": 2})
        whoami = await client.call_tool("whoami", {})
    assert names.count("add") == 1 and "whoami" in names
    assert added.structured_content == {"total": 3, "terms": 2}  # the Python tool's answer
    assert not whoami.is_error


async def test_the_child_runs_in_its_cwd_relative_to_the_config_file(
    tmp_path: Path, record: Path
) -> None:
    (tmp_path / "work").mkdir()
    config = load_toml(tmp_path, stdio_toml(record, extra='cwd = "work"'))
    source = McpSource(config.tools.mcp[0], tmp_path, StaticSecrets({"files-token": "v"}))
    await source.start()
    try:
        where = next(spec for spec in source.tools() if spec.name == "files_where")
        result = await where.call({}, CallContext(timeout=5, max_output=1000))
    finally:
        await source.stop()
    assert Path(text(result)).resolve() == (tmp_path / "work").resolve()


async def test_listeners_hear_of_a_changed_tool_list(record: Path) -> None:
    cfg = McpToolsConfig(
        name="files",
        command=(sys.executable, str(STDIO_SERVER), str(record)),
        env={"API_TOKEN": "vault:files-token"},
        prefix="files_",
    )
    source = McpSource(cfg, record, StaticSecrets({"files-token": "v"}))
    changed = anyio.Event()

    async def listener() -> None:
        if "files_newt" in {spec.name for spec in source.tools()}:
            changed.set()

    source.on_tools_changed(listener)
    await source.start()
    try:
        assert source.healthy() and "files_echo" in {spec.name for spec in source.tools()}
        grow = next(spec for spec in source.tools() if spec.name == "files_grow")
        await grow.call({"name": "newt"}, CallContext(timeout=5, max_output=1000))
        with anyio.fail_after(5):
            await changed.wait()
    finally:
        await source.stop()
    assert not source.healthy()
