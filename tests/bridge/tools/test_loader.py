"""``build_registry`` and ``check_config``: every kind's entries built, curated and checked."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from bridge.config import load_config
from bridge.errors import ConfigError, ToolLoadError
from bridge.tools.loader import build_registry, check_config
from bridge.tools.registry import CallContext
from bridge.tools.secrets import StaticSecrets
from tests.bridge.configs import write


def tool_module(directory: Path, name: str, body: str) -> str:
    (directory / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return name


TOOLS = """
    from bridge import Secrets, tool

    @tool
    def ping() -> str:
        "Answer pong."
        return "pong"

    @tool(secrets=["crm-key"])
    def crm(query: str, secrets: Secrets) -> str:
        "Look something up in the CRM."
        return query
"""


@pytest.mark.usefixtures("isolated_imports")
def test_build_registry_loads_every_source_with_curation(tmp_path: Path) -> None:
    tool_module(tmp_path, "cfgtools_a", TOOLS)
    path = write(
        tmp_path,
        """
        [[tools.python]]
        module = "cfgtools_a"
        prefix = "crm_"
        deny = ["ping"]

        [[tools.python]]
        module = "cfgtools_a"

        [[tools.command]]
        name = "hello"
        argv = ["echo", "hello"]
        """,
    )

    registry = build_registry(load_config(path, environ={}), StaticSecrets())

    assert [spec.name for spec in registry.tools()] == ["crm_crm", "ping", "crm", "hello"]
    assert len(registry.sources) == 3
    assert all(registry.health().values())


@pytest.mark.usefixtures("isolated_imports")
def test_build_registry_refuses_duplicate_tool_names(tmp_path: Path) -> None:
    tool_module(tmp_path, "cfgtools_b", TOOLS)
    path = write(
        tmp_path,
        """
        [[tools.python]]
        module = "cfgtools_b"

        [[tools.command]]
        name = "ping"
        argv = ["echo", "pong"]
        """,
    )

    with pytest.raises(ConfigError) as caught:
        build_registry(load_config(path, environ={}), StaticSecrets())

    assert str(caught.value).startswith(f"{path}: tools: tool name 'ping' is defined by both")


@pytest.mark.usefixtures("isolated_imports")
def test_build_registry_names_the_entry_of_a_module_that_fails(tmp_path: Path) -> None:
    path = write(tmp_path, '[[tools.python]]\nmodule = "cfg_no_such_module"\n')

    with pytest.raises(ToolLoadError) as caught:
        build_registry(load_config(path, environ={}), StaticSecrets())

    assert str(caught.value).startswith(f"{path}: tools.python[0].module: cannot import")
    assert "cfg_no_such_module" in str(caught.value)


@pytest.mark.usefixtures("isolated_imports")
def test_check_reports_everything_serve_would_trip_on(tmp_path: Path) -> None:
    tool_module(tmp_path, "cfgtools_c", TOOLS)
    path = write(
        tmp_path,
        """
        [[tools.python]]
        module = "cfgtools_c"
        rename = { pnig = "ping2" }
        allow = ["ping", "nothing*"]

        [[tools.python]]
        module = "cfg_missing_module"

        [[tools.command]]
        name = "ping"
        argv = ["no-such-program-xyz", "{unused_in_env}"]
        params = { unused_in_env = {}, spare = {} }
        cwd = "no-such-dir"
        env = { API_KEY = "vault:billing-key", PLAIN = "value" }
        """,
    )

    problems = check_config(load_config(path, environ={}), StaticSecrets({"crm-key": "v"}))

    prefix = f"{path}: "
    assert all(p.startswith(prefix) and "\n" not in p for p in problems)
    found = sorted(p[len(prefix) :] for p in problems)
    assert found == sorted(
        [
            "tools.python[0].allow: 'nothing*' matches no tool of this source",
            "tools.python[0].rename.pnig: no tool named 'pnig' in this source",
            "tools.python[1].module: cannot import tool module 'cfg_missing_module': "
            f"ModuleNotFoundError: No module named 'cfg_missing_module'; looked in {tmp_path} "
            "and the installed packages",
            f"tools.command[0].cwd: '{tmp_path / 'no-such-dir'}' is not a directory",
            "tools.command[0].argv: program 'no-such-program-xyz' is not on PATH ("
            + next(p for p in problems if "not on PATH" in p).split("not on PATH (")[1],
            "tools.command[0].params.spare: not used in argv; add {spare} to argv or drop it",
            "tools.command[0].env.API_KEY: env API_KEY needs secret 'billing-key', which is not in "
            "the vault; add it with `mcp-vault add billing-key --kind secret`",
            "tools: tool name 'ping' is defined by tools.python[0] and tools.command[0]; "
            "rename one (or use prefix/rename)",
        ]
    )


@pytest.mark.usefixtures("isolated_imports")
def test_check_reports_secrets_a_python_tool_needs(tmp_path: Path) -> None:
    tool_module(tmp_path, "cfgtools_d", TOOLS)
    path = write(tmp_path, '[[tools.python]]\nmodule = "cfgtools_d"\n')
    config = load_config(path, environ={})

    problems = check_config(config, StaticSecrets())

    assert problems == [
        f"{path}: tools.python[0]: tool 'crm' needs secret 'crm-key', which is not in the vault; "
        "add it with `mcp-vault add crm-key --kind secret`"
    ]
    assert check_config(config, StaticSecrets({"crm-key": "x"})) == []


class _BrokenStore:
    def exists(self, name: str) -> bool:
        raise OSError("index locked")

    def get(self, name: str) -> str:
        raise OSError("index locked")


def test_check_survives_a_store_that_cannot_answer(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nenv = { K = "vault:k" }\n',
    )

    problems = check_config(load_config(path, environ={}), _BrokenStore())

    assert problems == [
        f"{path}: tools.command[0].env.K: env K: cannot look up secret 'k' in the vault (OSError)"
    ]


@pytest.mark.usefixtures("isolated_imports")
def test_check_reports_curation_that_leaves_nothing(tmp_path: Path) -> None:
    tool_module(tmp_path, "cfgtools_e", TOOLS)
    path = write(tmp_path, '[[tools.python]]\nmodule = "cfgtools_e"\ndeny = ["*"]\n')

    problems = check_config(load_config(path, environ={}), StaticSecrets({"crm-key": "x"}))

    assert problems == [f"{path}: tools.python[0]: allow/deny leave no tool of this module"]


def test_a_command_tool_is_curated_like_any_other(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        [[tools.command]]
        name = "say"
        description = "Say something"
        argv = ["{sys.executable}", "-c", "import sys; print(sys.argv[1])", "{{text}}"]
        params = {{ text = {{ type = "string" }} }}
        prefix = "ops_"
        rename = {{ say = "echo" }}
        descriptions = {{ say = "Print the text back" }}

        [[tools.command]]
        name = "hidden"
        argv = ["true"]
        deny = ["hid*"]
        """,
    )
    registry = build_registry(load_config(path, environ={}), StaticSecrets())
    context = CallContext(timeout=30, max_output=4096)

    (spec,) = registry.tools()
    result = anyio.run(spec.call, {"text": "hi there"}, context)
    with pytest.raises(ToolError) as caught:
        anyio.run(spec.call, {"text": 3}, context)

    assert (spec.name, spec.description) == ("ops_echo", "Print the text back")
    assert not result.is_error and "hi there" in str(result.content[0])
    assert str(caught.value).startswith("Error executing tool ops_echo: ")
    assert [source.name for source in registry.sources] == ["command:say", "command:hidden"]


def test_check_reports_curation_mistakes_on_a_command(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[tools.command]]
        name = "deploy"
        argv = ["true"]
        rename = { deplyo = "ship" }
        descriptions = { ship = "x" }

        [[tools.command]]
        name = "nothing"
        argv = ["true"]
        allow = ["some*"]

        [[tools.command]]
        name = "ploy"
        argv = ["true"]
        prefix = "de"
        """,
    )

    problems = check_config(load_config(path, environ={}), StaticSecrets())

    assert sorted(p.removeprefix(f"{path}: ") for p in problems) == sorted(
        [
            "tools.command[0].rename.deplyo: no tool named 'deplyo' in this source",
            "tools.command[0].descriptions.ship: no tool named 'ship' in this source",
            "tools.command[1].allow: 'some*' matches no tool of this source",
            "tools.command[1]: allow/deny leave out this command's only tool, 'nothing'; "
            "remove the entry instead",
            "tools: tool name 'deploy' is defined by tools.command[0] and tools.command[2]; "
            "rename one (or use prefix/rename)",
        ]
    )
