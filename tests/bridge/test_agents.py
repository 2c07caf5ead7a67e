"""The agent/session helper against the Managed Agents fake, through the real SDK."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Tool, ToolAnnotations

import bridge
from bridge import (
    AgentError,
    MissingCredentialError,
    Secrets,
    desired_toolset,
    ensure_agent,
    run_session,
    start_session,
    tool,
)
from bridge.agents import MARKER_KEY, MARKER_VALUE
from bridge.config import BridgeConfig, load_config
from tests.fakes.managed_agents import (
    ManagedAgentsState,
    agent_custom_tool_use,
    agent_mcp_tool_use,
    agent_message,
    session_error_mcp_auth_failed,
    status_idle_end_turn,
    status_idle_requires_action,
    status_terminated,
)
from tests.fakes.server import RunningFake

PUBLIC_URL = "https://bridge.example.com/mcp"
MODEL = "claude-opus-4-8"
TURN = 10.0  # seconds: a broken loop fails fast instead of hanging the suite

Client = anthropic.Anthropic
Event = dict[str, Any]


def _config(tmp_path: Path, *, name: str = "inhouse", public_url: str = PUBLIC_URL) -> BridgeConfig:
    path = tmp_path / "bridge.toml"
    path.write_text(f'[server]\nname = "{name}"\npublic_url = "{public_url}"\n')
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path) -> BridgeConfig:
    return _config(tmp_path)


@pytest.fixture
def state(fake_api: RunningFake) -> ManagedAgentsState:
    return fake_api.state


def _writes(state: ManagedAgentsState, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path}" for r in state.requests[since:] if r.method != "GET"]


def _mcp_tool(name: str, *, read_only: bool = False, destructive: bool | None = None) -> Tool:
    hints = ToolAnnotations(read_only_hint=read_only, destructive_hint=destructive)
    return Tool(name=name, input_schema={"type": "object"}, annotations=hints)


def _vault_with(client: Client, *urls: str, name: str = "team") -> str:
    vault = client.beta.vaults.create(display_name=name)
    for url in urls:
        client.beta.vaults.credentials.create(
            vault.id, auth={"type": "static_bearer", "mcp_server_url": url, "token": "secret-1"}
        )
    return vault.id


def _environment(client: Client) -> str:
    return client.beta.environments.create(name="bridge-tests").id


@pytest.fixture
def recording(fake_api: RunningFake) -> Iterator[tuple[Client, list[tuple[str, str, Any]]]]:
    """The SDK with an httpx request hook that records (method, path, JSON body) of each call."""
    seen: list[tuple[str, str, Any]] = []

    def record(request: httpx2.Request) -> None:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))

    http = httpx2.Client(event_hooks={"request": [record]})
    with anthropic.Anthropic(
        base_url=fake_api.base_url,
        api_key=fake_api.api_key,
        max_retries=0,
        http_client=http,
        _strict_response_validation=True,
    ) as client:
        yield client, seen


# --------------------------------------------------------------------------- ensure_agent


def test_ensure_agent_creates_an_agent_declaring_the_bridge(
    anthropic_client: Client, config: BridgeConfig, state: ManagedAgentsState
) -> None:
    agent = ensure_agent(anthropic_client, config, name="helper", model=MODEL, system="Be brief.")

    assert agent.version == 1
    assert [s.model_dump() for s in agent.mcp_servers] == [
        {"type": "url", "name": "inhouse", "url": PUBLIC_URL}
    ]
    (toolset,) = agent.tools
    assert toolset.type == "mcp_toolset" and toolset.mcp_server_name == "inhouse"
    assert agent.system == "Be brief."
    assert agent.metadata[MARKER_KEY] == MARKER_VALUE
    assert _writes(state) == ["POST /v1/agents"]


def test_ensure_agent_twice_writes_nothing_the_second_time(
    anthropic_client: Client, config: BridgeConfig, state: ManagedAgentsState
) -> None:
    tools = [_mcp_tool("get_item", read_only=True), _mcp_tool("delete_item")]
    first = ensure_agent(anthropic_client, config, name="helper", model=MODEL, tools=tools)
    before = len(state.requests)

    second = ensure_agent(anthropic_client, config, name="helper", model=MODEL, tools=tools)

    assert (second.id, second.version) == (first.id, first.version)
    assert _writes(state, before) == []
    assert len(anthropic_client.beta.agents.versions.list(first.id).data) == 1


def test_ensure_agent_ignores_agents_it_did_not_make(
    anthropic_client: Client, config: BridgeConfig
) -> None:
    foreign = anthropic_client.beta.agents.create(name="helper", model=MODEL)

    agent = ensure_agent(anthropic_client, config, name="helper", model=MODEL)

    assert agent.id != foreign.id
    assert anthropic_client.beta.agents.retrieve(foreign.id).version == 1


def test_ensure_agent_updates_only_when_the_config_differs(
    recording: tuple[Client, list[tuple[str, str, Any]]], config: BridgeConfig
) -> None:
    client, seen = recording
    agent = ensure_agent(client, config, name="helper", model=MODEL)
    seen.clear()

    updated = ensure_agent(
        client, config, name="helper", model=MODEL, tools=[_mcp_tool("delete_item")]
    )

    assert (updated.id, updated.version) == (agent.id, 2)
    writes = [(method, path, body) for method, path, body in seen if method == "POST"]
    assert [(m, p) for m, p, _ in writes] == [("POST", f"/v1/agents/{agent.id}")]
    body = writes[0][2]
    assert body["version"] == 1
    assert body["mcp_servers"] == [{"type": "url", "name": "inhouse", "url": PUBLIC_URL}]
    assert body["tools"][0]["configs"] == [
        {"name": "delete_item", "enabled": True, "permission_policy": {"type": "always_ask"}}
    ]


def test_ensure_agent_follows_a_renamed_server_and_moved_url(
    anthropic_client: Client, tmp_path: Path
) -> None:
    # The fake rejects mcp_servers without a toolset naming each: both must travel together.
    agent = ensure_agent(anthropic_client, _config(tmp_path), name="helper", model=MODEL)
    moved = _config(tmp_path, name="tools", public_url="https://tools.example.com/sse")

    updated = ensure_agent(anthropic_client, moved, name="helper", model=MODEL)

    assert updated.id == agent.id and updated.version == 2
    assert [(s.name, s.url) for s in updated.mcp_servers] == [
        ("tools", "https://tools.example.com/sse")
    ]
    assert [t.mcp_server_name for t in updated.tools if t.type == "mcp_toolset"] == ["tools"]


@contextlib.contextmanager
def _moving_agent(
    fake_api: RunningFake, mover: Callable[[Client, str], object], times: int
) -> Iterator[tuple[Client, list[str]]]:
    """An SDK client whose agent updates are each preceded by someone else's update."""
    moved: list[str] = []

    with anthropic.Anthropic(base_url=fake_api.base_url, api_key=fake_api.api_key) as other:

        def before_update(request: httpx2.Request) -> None:
            path = request.url.path
            if request.method == "POST" and path.count("/") == 3 and len(moved) < times:
                agent_id = path.rsplit("/", 1)[1]
                mover(other, agent_id)
                moved.append(agent_id)

        with anthropic.Anthropic(
            base_url=fake_api.base_url,
            api_key=fake_api.api_key,
            max_retries=0,
            http_client=httpx2.Client(event_hooks={"request": [before_update]}),
            _strict_response_validation=True,
        ) as client:
            yield client, moved


def test_ensure_agent_rereads_and_retries_once_after_a_stale_version(
    fake_api: RunningFake, anthropic_client: Client, config: BridgeConfig
) -> None:
    agent = ensure_agent(anthropic_client, config, name="helper", model=MODEL)
    before = len(fake_api.state.requests)
    theirs = _moving_agent(
        fake_api, lambda other, id_: other.beta.agents.update(id_, system="x"), 1
    )

    with theirs as (client, moved):
        updated = ensure_agent(client, config, name="helper", model="claude-sonnet-5")

    assert moved == [agent.id]
    assert updated.version == 3 and updated.model.id == "claude-sonnet-5"
    assert updated.system is None  # the desired config wins over the interleaved write
    calls = [f"{r.method} {r.path}" for r in fake_api.state.requests[before:]]
    assert calls == [
        "GET /v1/agents",
        f"POST /v1/agents/{agent.id}",  # by someone else
        f"POST /v1/agents/{agent.id}",  # 409: stale version 1
        f"GET /v1/agents/{agent.id}",
        f"POST /v1/agents/{agent.id}",
    ]


def test_ensure_agent_stops_when_the_interleaved_write_already_matches(
    fake_api: RunningFake, anthropic_client: Client, config: BridgeConfig
) -> None:
    agent = ensure_agent(anthropic_client, config, name="helper", model=MODEL)
    theirs = _moving_agent(
        fake_api, lambda other, id_: other.beta.agents.update(id_, model="claude-sonnet-5"), 1
    )

    with theirs as (client, _):
        updated = ensure_agent(client, config, name="helper", model="claude-sonnet-5")

    assert (updated.id, updated.version) == (agent.id, 2)


def test_ensure_agent_gives_up_after_a_second_conflict(
    fake_api: RunningFake, anthropic_client: Client, config: BridgeConfig
) -> None:
    ensure_agent(anthropic_client, config, name="helper", model=MODEL)
    counter = iter(range(100))
    theirs = _moving_agent(
        fake_api, lambda other, id_: other.beta.agents.update(id_, system=f"v{next(counter)}"), 2
    )

    with theirs as (client, moved), pytest.raises(AgentError, match="conflict twice") as caught:
        ensure_agent(client, config, name="helper", model="claude-sonnet-5")

    assert len(moved) == 2
    assert caught.value.status_code == 409 and caught.value.request_id


def test_a_version_conflict_is_reread_not_resent_even_when_the_server_allows_a_retry(
    fake_api: RunningFake, anthropic_client: Client, config: BridgeConfig
) -> None:
    # The fake marks its 409s `x-should-retry: false`; the real API may not. This one says
    # "retry": resending the same stale version is what ensure_agent must not let the SDK do.
    agent = ensure_agent(anthropic_client, config, name="helper", model=MODEL)
    path = f"/v1/agents/{agent.id}"
    fake_api.state.fail_next("POST", path, 409, headers={"x-should-retry": "true"})
    before = len(fake_api.state.requests)

    with anthropic.Anthropic(
        base_url=fake_api.base_url, api_key=fake_api.api_key, _strict_response_validation=True
    ) as retrying:
        updated = ensure_agent(retrying, config, name="helper", model="claude-sonnet-5")

    assert updated.version == 2 and updated.model.id == "claude-sonnet-5"
    calls = [f"{r.method} {r.path}" for r in fake_api.state.requests[before:]]
    assert calls == ["GET /v1/agents", f"POST {path}", f"GET {path}", f"POST {path}"]


# --------------------------------------------------------------------------- permission policy


ALLOW = {"type": "always_allow"}
ASK = {"type": "always_ask"}


@pytest.mark.parametrize(
    ("kwargs", "default", "configs"),
    [
        pytest.param({}, ALLOW, {"delete_item": ASK, "unmarked": ASK}, id="default-allow"),
        pytest.param(
            {"permission_policy": "always_ask"}, ASK, {}, id="ask-everything-lists-nothing"
        ),
        pytest.param(
            {"permission_policy": "auto"},
            {"type": "auto"},
            {"delete_item": ASK, "unmarked": ASK},
            id="auto",
        ),
        pytest.param(
            {"overrides": {"delete_item": "always_allow", "get_item": "always_ask"}},
            ALLOW,
            {"get_item": ASK, "unmarked": ASK},
            id="overrides-win",
        ),
    ],
)
def test_the_permission_policy_is_explicit(
    kwargs: dict[str, Any], default: dict[str, str], configs: dict[str, dict[str, str]]
) -> None:
    tools = [
        _mcp_tool("get_item", read_only=True),
        _mcp_tool("add_note", destructive=False),
        _mcp_tool("delete_item", destructive=True),
        Tool(name="unmarked", input_schema={"type": "object"}),
    ]

    toolset = desired_toolset("inhouse", tools, **kwargs)

    assert toolset["default_config"] == {"enabled": True, "permission_policy": default}
    assert {c["name"]: c["permission_policy"] for c in toolset["configs"]} == configs


def test_the_agent_never_gets_the_silent_always_ask_default(
    anthropic_client: Client, config: BridgeConfig
) -> None:
    agent = ensure_agent(
        anthropic_client,
        config,
        name="helper",
        model=MODEL,
        tools=[_mcp_tool("get_item", read_only=True), _mcp_tool("drop_table")],
    )

    (toolset,) = agent.tools
    assert toolset.type == "mcp_toolset"
    assert toolset.default_config.permission_policy.type == "always_allow"
    assert {c.name: c.permission_policy.type for c in toolset.configs} == {
        "drop_table": "always_ask"
    }


# --------------------------------------------------------------------------- custom tools


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool(name="lookup-sku", description="Find an item by SKU.", read_only=True)
def lookup(sku: str, limit: int = 3) -> dict[str, Any]:
    if sku == "missing":
        raise ToolError(f"no item {sku}")
    if sku == "crash":
        raise RuntimeError("internal detail that must not reach the agent")
    return {"sku": sku, "limit": limit}


def test_custom_tools_are_declared_from_tool_functions(
    anthropic_client: Client, config: BridgeConfig, state: ManagedAgentsState
) -> None:
    raw = {
        "type": "custom",
        "name": "ping",
        "description": "Ping.",
        "input_schema": {"type": "object", "properties": {}},
    }

    agent = ensure_agent(
        anthropic_client, config, name="helper", model=MODEL, custom_tools=[add, lookup, raw]
    )
    before = len(state.requests)
    again = ensure_agent(
        anthropic_client, config, name="helper", model=MODEL, custom_tools=[add, lookup, raw]
    )

    customs = {t.name: t for t in agent.tools if t.type == "custom"}
    assert set(customs) == {"add", "lookup-sku", "ping"}
    assert customs["add"].description == "Add two integers."
    assert customs["add"].input_schema.required == ["a", "b"]
    assert set(customs["add"].input_schema.properties or {}) == {"a", "b"}
    assert customs["lookup-sku"].description == "Find an item by SKU."
    assert customs["lookup-sku"].input_schema.required == ["sku"]
    assert again.version == agent.version and _writes(state, before) == []


def test_a_custom_tool_needing_vault_secrets_is_refused(
    anthropic_client: Client, config: BridgeConfig, state: ManagedAgentsState
) -> None:
    @tool(secrets=["crm-key"])
    def crm(query: str, secrets: Secrets) -> str:
        """Query the CRM."""
        return secrets["crm-key"]

    def undocumented(x: int) -> int:
        return x

    with pytest.raises(AgentError, match="declares vault secrets"):
        ensure_agent(anthropic_client, config, name="helper", model=MODEL, custom_tools=[crm])
    with pytest.raises(AgentError, match="no description"):
        ensure_agent(
            anthropic_client, config, name="helper", model=MODEL, custom_tools=[undocumented]
        )
    assert _writes(state) == []


# --------------------------------------------------------------------------- start_session


@pytest.fixture
def agent(anthropic_client: Client, config: BridgeConfig) -> Any:
    return ensure_agent(anthropic_client, config, name="helper", model=MODEL)


@pytest.mark.parametrize(
    "credential_url",
    [
        PUBLIC_URL,
        "HTTPS://Bridge.Example.COM/mcp",
        "https://bridge.example.com:443/mcp",
        "https://bridge.example.com/mcp/",
    ],
    ids=["same", "case", "default-port", "trailing-slash"],
)
def test_start_session_accepts_a_credential_for_the_same_server(
    anthropic_client: Client, agent: Any, credential_url: str
) -> None:
    vault_id = _vault_with(anthropic_client, credential_url)

    session = start_session(
        anthropic_client,
        agent,
        environment_id=_environment(anthropic_client),
        vault_ids=[vault_id],
        title="t",
    )

    assert session.vault_ids == [vault_id]
    assert (session.agent.id, session.agent.version) == (agent.id, agent.version)
    assert session.title == "t"


@pytest.mark.parametrize(
    "credential_url",
    [
        "https://bridge.example.com/sse",
        "https://bridge.example.com:8443/mcp",
        "http://bridge.example.com/mcp",
        "https://other.example.com/mcp",
        None,
    ],
    ids=["sse-vs-mcp", "other-port", "other-scheme", "other-host", "empty-vault"],
)
def test_start_session_refuses_without_a_matching_credential(
    anthropic_client: Client, agent: Any, state: ManagedAgentsState, credential_url: str | None
) -> None:
    vault_id = _vault_with(anthropic_client, *([credential_url] if credential_url else []))
    environment_id = _environment(anthropic_client)

    with pytest.raises(MissingCredentialError) as caught:
        start_session(anthropic_client, agent, environment_id=environment_id, vault_ids=[vault_id])

    error = caught.value
    assert (error.server, error.url, error.vault_ids) == ("inhouse", PUBLIC_URL, [vault_id])
    assert "'inhouse'" in str(error) and PUBLIC_URL in str(error) and vault_id in str(error)
    assert "secret-1" not in str(error)
    assert "POST /v1/sessions" not in _writes(state)


def test_start_session_finds_the_credential_in_any_of_the_vaults(
    anthropic_client: Client, agent: Any
) -> None:
    empty = _vault_with(anthropic_client, "https://elsewhere.example.com/mcp", name="a")
    holding = _vault_with(anthropic_client, PUBLIC_URL, name="b")

    session = start_session(
        anthropic_client,
        agent,
        environment_id=_environment(anthropic_client),
        vault_ids=[empty, holding],
    )

    assert session.vault_ids == [empty, holding]


def test_start_session_ignores_archived_and_non_mcp_credentials(
    anthropic_client: Client, agent: Any
) -> None:
    vault_id = _vault_with(anthropic_client, PUBLIC_URL)
    (credential,) = anthropic_client.beta.vaults.credentials.list(vault_id)
    anthropic_client.beta.vaults.credentials.archive(credential.id, vault_id=vault_id)
    anthropic_client.beta.vaults.credentials.create(
        vault_id,
        auth={
            "type": "environment_variable",
            "secret_name": "BRIDGE_TOKEN",
            "secret_value": "secret-2",
            "networking": {"type": "unrestricted"},
        },
    )

    with pytest.raises(MissingCredentialError, match="no active credential"):
        start_session(
            anthropic_client,
            agent,
            environment_id=_environment(anthropic_client),
            vault_ids=[vault_id],
        )


# --------------------------------------------------------------------------- run_session


@pytest.fixture
def session_id(anthropic_client: Client, config: BridgeConfig) -> str:
    agent = ensure_agent(anthropic_client, config, name="helper", model=MODEL, custom_tools=[add])
    session = start_session(
        anthropic_client,
        agent,
        environment_id=_environment(anthropic_client),
        vault_ids=[_vault_with(anthropic_client, PUBLIC_URL)],
    )
    return session.id


def _sent(state: ManagedAgentsState, session_id: str, kind: str) -> list[Event]:
    return [e for e in state.events(session_id) if e["type"] == kind]


def test_run_session_delivers_text_and_stops_at_end_of_turn(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    heard: list[str] = []

    def agent_turn(session: Event, text: str) -> list[Event]:
        heard.append(text)
        return [agent_message("Hello"), agent_message("world"), status_idle_end_turn()]

    state.on_user_message(session_id, agent_turn)
    delivered: list[str] = []

    run = run_session(
        anthropic_client, session_id, "hi there", on_text=delivered.append, deadline=TURN
    )

    assert heard == ["hi there"]
    assert delivered == run.text == ["Hello", "world"]
    assert run.stop_reason == "end_turn" and run.reconnects == 0
    assert len(run.event_ids) == len(set(run.event_ids))


def test_run_session_stops_when_the_session_terminates(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    state.on_user_message(
        session_id,
        lambda session, text: [
            session_error_mcp_auth_failed("inhouse", "bridge said 401"),
            agent_message("bye"),
            status_terminated(),
        ],
    )

    run = run_session(anthropic_client, session_id, "hi", deadline=TURN)

    assert (run.stop_reason, run.text, run.errors) == ("terminated", ["bye"], ["bridge said 401"])


def _custom_turn(state: ManagedAgentsState, session_id: str, *calls: tuple[str, Event]) -> None:
    """The agent calls each custom tool, then echoes the results back as its message."""

    def on_message(session: Event, text: str) -> list[Event]:
        uses = [agent_custom_tool_use(name, args) for name, args in calls]
        return [*uses, status_idle_requires_action([u["id"] for u in uses])]

    def on_results(session: Event, responses: list[Event]) -> list[Event]:
        texts = [
            json.dumps([r["is_error"], r.get("content", [{}])[0].get("text")]) for r in responses
        ]
        return [*(agent_message(t) for t in texts), status_idle_end_turn()]

    state.on_user_message(session_id, on_message)
    state.on_tool_response(session_id, on_results)


def test_run_session_answers_custom_tool_use_with_the_local_tool(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    _custom_turn(state, session_id, ("add", {"a": 2, "b": 3}))

    run = run_session(anthropic_client, session_id, "add them", tools=[add], deadline=TURN)

    assert run.text == [json.dumps([False, "5"])]
    (result,) = _sent(state, session_id, "user.custom_tool_result")
    (use,) = _sent(state, session_id, "agent.custom_tool_use")
    assert result["custom_tool_use_id"] == use["id"]


@pytest.mark.parametrize(
    ("call", "is_error", "check"),
    [
        pytest.param(
            ("lookup-sku", {"sku": "A1"}),
            False,
            lambda text: json.loads(text) == {"sku": "A1", "limit": 3},
            id="ok",
        ),
        pytest.param(
            ("lookup-sku", {"sku": "missing"}),
            True,
            lambda text: text == "Error executing tool lookup-sku: no item missing",
            id="tool-error-reaches-the-agent",
        ),
        pytest.param(
            ("lookup-sku", {"sku": "crash"}),
            True,
            lambda text: text == "Error executing tool lookup-sku",
            id="crash-details-do-not",
        ),
        pytest.param(
            ("lookup-sku", {"limit": 2}),
            True,
            lambda text: (
                text.startswith("Error executing tool lookup-sku:")
                and "sku\n  Field required" in text
            ),
            id="bad-arguments",
        ),
        pytest.param(
            ("nowhere", {}),
            True,
            lambda text: text == "no local tool named 'nowhere' (known: lookup-sku)",
            id="unknown-tool",
        ),
    ],
)
def test_custom_tool_results_follow_the_bridge_rules(
    anthropic_client: Client,
    state: ManagedAgentsState,
    session_id: str,
    call: tuple[str, Event],
    is_error: bool,
    check: Callable[[str], bool],
) -> None:
    _custom_turn(state, session_id, call)

    run = run_session(anthropic_client, session_id, "go", tools=[lookup], deadline=TURN)

    (reply,) = run.text
    sent_error, text = json.loads(reply)
    assert sent_error is is_error
    assert check(text), text


def test_run_session_accepts_a_mapping_of_plain_functions(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    def shout(word: str) -> str:
        return word.upper()

    _custom_turn(state, session_id, ("loud", {"word": "hey"}))

    run = run_session(anthropic_client, session_id, "go", tools={"loud": shout}, deadline=TURN)

    assert run.text == [json.dumps([False, "HEY"])]


@pytest.mark.parametrize(
    ("confirm", "expected"),
    [
        pytest.param(True, {"get_item": "allow", "delete_item": "allow"}, id="allow-all"),
        pytest.param(False, {"get_item": "deny", "delete_item": "deny"}, id="deny-all"),
        pytest.param(
            lambda use: use.name == "get_item",
            {"get_item": "allow", "delete_item": "deny"},
            id="per-tool",
        ),
    ],
)
def test_run_session_answers_tool_confirmations_per_confirm(
    anthropic_client: Client,
    state: ManagedAgentsState,
    session_id: str,
    confirm: Any,
    expected: dict[str, str],
) -> None:
    uses = [
        agent_mcp_tool_use("inhouse", "get_item", {"sku": "A1"}, permission="ask"),
        agent_mcp_tool_use("inhouse", "delete_item", {"sku": "A1"}, permission="ask"),
        agent_mcp_tool_use("inhouse", "list_items", {}, permission="allow"),
    ]
    state.on_user_message(
        session_id,
        lambda session, text: [
            *uses,
            status_idle_requires_action([u["id"] for u in uses[:2]]),
        ],
    )
    answered: list[Event] = []

    def after_answers(session: Event, responses: list[Event]) -> list[Event]:
        answered.extend(responses)
        return [status_idle_end_turn()]

    state.on_tool_response(session_id, after_answers)

    run = run_session(anthropic_client, session_id, "go", confirm=confirm, deadline=TURN)

    names = {u["id"]: u["name"] for u in uses}
    assert {names[a["tool_use_id"]]: a["result"] for a in answered} == expected
    for answer in answered:
        assert ("deny_message" in answer) == (answer["result"] == "deny")
    assert run.stop_reason == "end_turn"


@pytest.mark.parametrize("abort", [False, True], ids=["clean-close", "abort"])
def test_a_dropped_stream_reconnects_and_handles_each_event_once(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str, abort: bool
) -> None:
    calls: list[tuple[int, int]] = []

    def counted_add(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    use = agent_custom_tool_use("add", {"a": 1, "b": 2})

    def on_message(session: Event, text: str) -> list[Event]:
        state.emit(session_id, [agent_message("one")])
        assert state.drop_streams(session_id, abort=abort) == 1
        return [agent_message("two"), use, status_idle_requires_action([use["id"]])]

    state.on_user_message(session_id, on_message)
    state.on_tool_response(
        session_id, lambda session, responses: [agent_message("three"), status_idle_end_turn()]
    )

    run = run_session(anthropic_client, session_id, "go", tools={"add": counted_add}, deadline=TURN)

    assert run.text == ["one", "two", "three"]
    assert calls == [(1, 2)]
    assert run.reconnects >= 1 and run.stop_reason == "end_turn"
    assert len(run.event_ids) == len(set(run.event_ids))
    assert len(_sent(state, session_id, "user.custom_tool_result")) == 1


def test_a_reconnect_in_a_later_turn_skips_earlier_turns(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    state.on_user_message(
        session_id, lambda session, text: [agent_message("first"), status_idle_end_turn()]
    )
    assert run_session(anthropic_client, session_id, "turn 1", deadline=TURN).text == ["first"]

    def second(session: Event, text: str) -> list[Event]:
        state.drop_streams(session_id)
        return [agent_message("second"), status_idle_end_turn()]

    state.on_user_message(session_id, second)

    run = run_session(anthropic_client, session_id, "turn 2", deadline=TURN)

    assert run.text == ["second"] and run.reconnects == 1


def test_the_deadline_raises_agent_error_while_the_agent_is_silent(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    state.on_user_message(session_id, lambda session, text: [])
    started = time.monotonic()

    with pytest.raises(AgentError, match=r"did not finish its turn within 0.5 s"):
        run_session(anthropic_client, session_id, "anyone?", deadline=0.5)

    # The read timeout alone would end the wait seconds later: the watchdog cut it at 0.5 s.
    assert time.monotonic() - started < 2.5


def test_the_deadline_holds_while_events_keep_coming(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    stop = threading.Event()

    def chatter() -> None:
        while not stop.wait(0.05):
            state.emit(session_id, [agent_message(".")])

    state.on_user_message(session_id, lambda session, text: [])
    talker = threading.Thread(target=chatter, daemon=True)
    talker.start()
    try:
        with pytest.raises(AgentError, match="did not finish"):
            run_session(anthropic_client, session_id, "go", deadline=0.5)
    finally:
        stop.set()
        talker.join(5)


def test_a_bad_api_key_becomes_agent_error_with_status_and_request_id(
    fake_api: RunningFake, config: BridgeConfig, session_id: str
) -> None:
    with anthropic.Anthropic(
        base_url=fake_api.base_url, api_key="sk-ant-wrong-key", max_retries=0
    ) as client:
        with pytest.raises(AgentError) as caught:
            run_session(client, session_id, "hi", deadline=TURN)
        with pytest.raises(AgentError) as on_agent:
            ensure_agent(client, config, name="helper", model=MODEL)

    for error in (caught.value, on_agent.value):
        assert error.status_code == 401
        assert error.request_id and error.request_id.startswith("req_")
        assert "ANTHROPIC_API_KEY" in str(error) and "sk-ant-wrong-key" not in str(error)


def test_a_server_error_while_answering_becomes_agent_error(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    use = agent_custom_tool_use("add", {"a": 1, "b": 1})

    def on_message(session: Event, text: str) -> list[Event]:
        # The message went through; the tool result, sent next, gets the 500.
        state.fail_next("POST", f"/v1/sessions/{session_id}/events", 500)
        return [use, status_idle_requires_action([use["id"]])]

    state.on_user_message(session_id, on_message)

    with pytest.raises(AgentError, match="500") as caught:
        run_session(anthropic_client, session_id, "go", tools=[add], deadline=TURN)

    assert caught.value.status_code == 500 and caught.value.request_id
    assert "injected failure" in str(caught.value)
    assert _sent(state, session_id, "user.custom_tool_result") == []


def test_a_server_error_on_the_stream_becomes_agent_error(
    anthropic_client: Client, state: ManagedAgentsState, session_id: str
) -> None:
    state.fail_next("GET", f"/v1/sessions/{session_id}/events/stream", 503)

    with pytest.raises(AgentError, match="503") as caught:
        run_session(anthropic_client, session_id, "go", deadline=TURN)

    assert caught.value.status_code == 503
    assert _sent(state, session_id, "user.message") == []


# --------------------------------------------------------------------------- the package


def test_the_helper_is_exported_from_bridge() -> None:
    from bridge import agents

    for name in bridge.__all__:
        assert getattr(bridge, name) is not None
    assert bridge.run_session is agents.run_session
    assert bridge.SessionRun is agents.SessionRun
    with pytest.raises(AttributeError):
        bridge.no_such_name  # noqa: B018
