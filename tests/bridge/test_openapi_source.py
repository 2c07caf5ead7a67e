"""Internal HTTP services described by OpenAPI, through the running bridge."""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp.types import TextContent, ToolListChangedNotification

from bridge.config import BridgeConfig, load_config
from bridge.errors import ConfigError, ToolLoadError
from bridge.tools.loader import build_registry, check_config
from bridge.tools.openapi.config import OpenApiToolsConfig
from bridge.tools.openapi.source import openapi_source
from bridge.tools.secrets import StaticSecrets
from tests.bridge.backends.inventory import SPEC, inventory_app
from tests.bridge.conftest import RunningBridge, connect
from tests.support.live import LiveServer, free_socket, serve
from vaults.store import Store

pytestmark = pytest.mark.anyio

StartBridge = Callable[..., RunningBridge]
SECRET = "inventory-secret-value"


def _text(result: object) -> str:
    return "".join(b.text for b in result.content if isinstance(b, TextContent))  # type: ignore[attr-defined]


@pytest.fixture
def service() -> Iterator[tuple[LiveServer, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    with serve(inventory_app(SECRET, seen)) as live:
        yield live, seen


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(SPEC))
    return path


def _inventory_toml(url: str, *, extra: str = "") -> str:
    return f"""
[[tools.openapi]]
name = "inventory"
spec = "{url}/openapi.json"
bearer = "vault:inventory-key"
exclude = ["admin"]
prefix = "inv_"
{extra}
"""


async def test_operations_become_tools_and_calls_work(
    service: tuple[LiveServer, list[dict[str, str]]],
    start_bridge: StartBridge,
    store: Store,
    transport: str,
) -> None:
    live, _ = service
    store.add_secret("inventory-key", SECRET)
    bridge = start_bridge(_inventory_toml(live.url))
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
    assert missing.is_error and "HTTP 404" in _text(missing) and "no item 99" in _text(missing)
    assert broken.is_error and "HTTP 500" in _text(broken) and "database exploded" in _text(broken)
    assert len(_text(broken)) < 700


def test_parameters_and_body_form_the_input_schema(spec_file: Path) -> None:
    cfg = OpenApiToolsConfig(name="inventory", spec=str(spec_file), base_url="http://inv/api")
    specs = {spec.name: spec for spec in openapi_source(cfg, StaticSecrets()).tools()}
    get_item = specs["getItem"].input_schema
    create = specs["createItem"].input_schema
    category = specs["createCategory"].input_schema["properties"]["body"]
    listing = specs["listItems"].input_schema["properties"]
    assert get_item["properties"]["item_id"] == {
        "type": "integer",
        "description": "The item's number",
    }
    assert get_item["required"] == ["item_id"] and get_item["additionalProperties"] is False
    assert create["required"] == ["body"]
    assert create["properties"]["body"]["properties"]["price"] == {"type": "number"}
    assert category["properties"]["children"]["items"] == {"description": "(recursive: Category)"}
    assert listing["tag"] == {"type": ["string", "null"]}
    assert specs["addNote"].input_schema["properties"]["body"] == {"type": "string"}
    read_only = {
        name: spec.annotations.read_only_hint for name, spec in specs.items() if spec.annotations
    }
    assert read_only["getItem"] and read_only["headItem"] and read_only["listItems"]
    assert not read_only["createItem"] and not read_only["deleteItem"]
    assert specs["getItem"].description == "Get one item\n\nGET /items/{item_id}"


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
        _inventory_toml(live.url)
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
    assert SECRET not in _text(bearer) + _text(keyed) + repr(tools)
    assert {"Bearer " + SECRET} == {h["authorization"] for h in api_calls if "authorization" in h}
    assert all(h["x-api-key"] == SECRET for h in api_calls if "x-team" in h)
    assert not any(bridge.token in value for headers in seen for value in headers.values())


async def test_large_text_head_and_text_bodies(
    service: tuple[LiveServer, list[dict[str, str]]], start_bridge: StartBridge, store: Store
) -> None:
    live, _ = service
    store.add_secret("inventory-key", SECRET)
    bridge = start_bridge(_inventory_toml(live.url))
    async with connect(bridge, "http") as client:
        big = await client.call_tool("inv_big", {"kib": 1024})
        report = await client.call_tool("inv_report", {})
        head = await client.call_tool("inv_headItem", {"item_id": 2})
        note = await client.call_tool("inv_addNote", {"body": "hello there"})
        deleted = await client.call_tool("inv_deleteItem", {"item_id": 2})
    assert "truncated" in _text(big) and len(_text(big)) < 70_000
    assert _text(report) == "all good"
    assert not head.is_error and _text(head).startswith("HTTP 200")
    assert _text(note) == "noted: hello there"
    assert not deleted.is_error and _text(deleted).startswith("HTTP 204")


async def test_invalid_arguments_are_refused_before_any_request(
    service: tuple[LiveServer, list[dict[str, str]]], start_bridge: StartBridge, store: Store
) -> None:
    live, seen = service
    store.add_secret("inventory-key", SECRET)
    bridge = start_bridge(_inventory_toml(live.url))
    before = len(seen)
    async with connect(bridge, "http") as client:
        wrong = await client.call_tool("inv_getItem", {"item_id": "seven"})
        extra = await client.call_tool("inv_report", {"surprise": 1})
    assert wrong.is_error and "item_id" in _text(wrong)
    assert extra.is_error and "surprise" in _text(extra)
    assert len(seen) == before


async def _wait_ready(bridge: RunningBridge, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        while (await http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "/readyz never turned green again"
            await anyio.sleep(0.05)


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
            await _wait_ready(bridge)  # with no call in between
            async with connect(bridge, "http") as client:
                back = await client.call_tool("report", {})
    assert at_start.status_code == 503 and at_start.json()["sources"]["openapi:down"] is False
    assert result.is_error and "cannot reach the service 'down'" in _text(result)
    assert ready.status_code == 503 and ready.json()["sources"]["openapi:down"] is False
    assert _text(back) == "all good"


def _config(tmp_path: Path, text: str) -> BridgeConfig:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    return load_config(path, environ={})


def test_a_missing_document_is_a_load_error_naming_the_key(tmp_path: Path) -> None:
    config = _config(
        tmp_path, '[[tools.openapi]]\nname = "x"\nspec = "nope.json"\nbase_url = "http://h"\n'
    )
    with pytest.raises(ToolLoadError) as caught:
        build_registry(config, StaticSecrets())
    assert "tools.openapi[0].spec" in str(caught.value) and "nope.json" in str(caught.value)


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        pytest.param('spec = "a.json"\nbearer = "plain"', "vault secret", id="literal-bearer"),
        pytest.param('spec = "a.json"\nbase_url = "ftp://x"', "http(s) URL", id="bad-base-url"),
        pytest.param('spec = "a.json"\nheaders = { Cookie = "c" }', "from the vault", id="cookie"),
        pytest.param('spec = "a.json"\ntimeout = "soon"', "duration", id="bad-timeout"),
        pytest.param(
            'spec = "a.json"\nretry_delay = "2s"\nretry_delay_max = "1s"',
            "retry_delay_max",
            id="backoff",
        ),
    ],
)
def test_a_bad_openapi_table_names_the_key_and_the_problem(
    tmp_path: Path, table: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, f'[[tools.openapi]]\nname = "inventory"\n{table}\n')
    assert "tools.openapi[0]" in str(caught.value) and fragment in str(caught.value)


def test_check_finds_selection_mistakes_collisions_and_missing_secrets(
    tmp_path: Path, spec_file: Path
) -> None:
    config = _config(
        tmp_path,
        f"""
[[tools.command]]
name = "report"
argv = ["true"]

[[tools.openapi]]
name = "inventory"
spec = "{spec_file}"
base_url = "http://inv/api"
bearer = "vault:inventory-key"
include = ["report", "nothing*"]
rename = {{ ghost = "spirit" }}
""",
    )
    problems = check_config(config, StaticSecrets())
    assert any("tools.openapi[0].bearer" in p and "inventory-key" in p for p in problems)
    assert any("tools.openapi[0].include" in p and "'nothing*'" in p for p in problems)
    assert any("tools.openapi[0].rename.ghost" in p for p in problems)
    assert any(
        "'report' is defined by tools.command[0] and tools.openapi[0]" in p for p in problems
    )
    assert len(problems) == 4


@pytest.mark.parametrize(
    "content",
    [pytest.param(None, id="missing"), pytest.param("{not json", id="invalid")],
)
def test_a_spec_file_that_is_missing_or_invalid_stays_a_config_error(
    tmp_path: Path, content: str | None
) -> None:
    if content is not None:
        (tmp_path / "nope.json").write_text(content)
    config = _config(
        tmp_path, '[[tools.openapi]]\nname = "x"\nspec = "nope.json"\nbase_url = "http://h"\n'
    )
    with pytest.raises(ToolLoadError) as caught:
        build_registry(config, StaticSecrets())
    assert "tools.openapi[0].spec" in str(caught.value) and "nope.json" in str(caught.value)


def _late_toml(port: int, *, extra: str = "") -> str:
    return f"""
[[tools.openapi]]
name = "inventory"
spec = "http://127.0.0.1:{port}/openapi.json"
base_url = "http://127.0.0.1:{port}/api"
bearer = "vault:inventory-key"
exclude = ["admin"]
prefix = "inv_"
retry_delay = "0.1s"
retry_delay_max = "0.2s"
{extra}
"""


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
        bridge = start_bridge(_late_toml(sock.getsockname()[1]))
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
                await _wait_ready(bridge)
    assert at_start.status_code == 503
    assert at_start.json()["sources"]["openapi:inventory"] is False
    assert "greet" in before and not any(name.startswith("inv_") for name in before)
    assert early.is_error and "inv_report" in _text(early)
    assert {"inv_report", "inv_getItem", "inv_listItems"} <= after and "inv_resetAll" not in after
    assert _text(report) == "all good"
    assert seen[0]["authorization"] == f"Bearer {SECRET}"  # the document needs the credential


def test_check_reports_a_spec_url_that_cannot_be_fetched_and_serve_still_builds(
    tmp_path: Path,
) -> None:
    with free_socket() as sock:
        config = _config(tmp_path, _late_toml(sock.getsockname()[1]))
        secrets = StaticSecrets({"inventory-key": SECRET})
        problems = check_config(config, secrets)
        (source,) = build_registry(config, secrets).sources
    assert len(problems) == 1
    assert "tools.openapi[0].spec: cannot fetch http://127.0.0.1:" in problems[0]
    assert "ConnectError" in problems[0]
    assert source.tools() == [] and not source.healthy()


async def test_late_tools_leave_out_names_other_sources_already_serve(
    tmp_path: Path, spec_file: Path
) -> None:
    with free_socket() as sock:
        config = _config(
            tmp_path,
            f"""
[[tools.command]]
name = "inv_report"
argv = ["true"]
{_late_toml(sock.getsockname()[1])}
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


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        pytest.param('bearer = "vault:inventory-key"', "authorization", f"Bearer {SECRET}"),
        pytest.param(
            'headers = { X-Api-Key = "vault:inventory-key" }', "x-api-key", SECRET, id="header"
        ),
    ],
)
def test_the_spec_fetch_carries_the_credential_only_to_the_services_origin(
    tmp_path: Path, auth: str, header: str, value: str
) -> None:
    home_seen: list[dict[str, str]] = []
    elsewhere_seen: list[dict[str, str]] = []
    secrets = StaticSecrets({"inventory-key": SECRET})
    with serve(inventory_app(SECRET, elsewhere_seen)) as elsewhere:
        app = inventory_app(
            SECRET,
            home_seen,
            spec_needs_auth=True,
            spec_redirect=f"{elsewhere.url}/openapi.json",
        )
        with serve(app) as home:

            def source(spec: str) -> list[str]:
                cfg = OpenApiToolsConfig.model_validate(
                    {
                        "name": "inventory",
                        "spec": spec,
                        "base_url": f"{home.url}/api",
                        **tomllib.loads(auth),
                    }
                )
                loaded = openapi_source(cfg, secrets)
                assert loaded.healthy() and not loaded.problems(), loaded.problems()
                return [spec.name for spec in loaded.tools()]

            same_origin = source(f"{home.url}/openapi.json")
            other_origin = source(f"{elsewhere.url}/openapi.json")
            redirected = source(f"{home.url}/moved.json")
    assert "getItem" in same_origin and same_origin == other_origin == redirected
    assert [h.get(header) for h in home_seen] == [value, value]  # the document and /moved.json
    assert len(elsewhere_seen) == 2
    assert not any(SECRET in v for h in elsewhere_seen for v in h.values())
