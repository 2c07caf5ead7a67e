"""Source kinds: the built-ins and a plugin are registered the same way, as entry points."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.config import BridgeConfig
from bridge.tools.kinds import ToolTables, source_kinds, tables_model
from bridge.tools.loader import build_registry, check_config
from bridge.tools.secrets import StaticSecrets

PLUGIN = """
from mcp.types import CallToolResult, TextContent

from bridge.tools.curation import Curation, curate
from bridge.tools.kinds import Checked, SourceKind
from bridge.tools.registry import StaticSource, ToolSpec


class GreeterConfig(Curation):
    greeting: str = ""


def build(entry, context):
    async def call(arguments, ctx):
        return CallToolResult(content=[TextContent(type="text", text=entry.greeting)])

    spec = ToolSpec(
        name="greet", description="Greet.", input_schema={"type": "object"}, call=call,
        source="greeter",
    )
    return StaticSource(name="greeter", specs=curate([spec], entry))


def check(entry, context):
    problems = [] if entry.greeting else [("greeting", "say something")]
    return Checked(tools=[entry.final_name("greet")] if entry.admits("greet") else [],
                   problems=problems)


KIND = SourceKind(name="greeter", config=GreeterConfig, build=build, check=check, order=15)
NOT_A_KIND = object()
"""


def _plugin(directory: Path, entry_points: dict[str, str]) -> Path:
    """An installed-looking distribution in ``directory``: its module and its metadata."""
    (directory / "bridge_greeter.py").write_text(PLUGIN)
    info = directory / "bridge_greeter-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bridge-greeter\nVersion: 0.1\n")
    points = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[mcp_bridge.tool_sources]\n{points}")
    return directory


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``sys.path`` to install a plugin in; the kinds are read afresh."""
    monkeypatch.syspath_prepend(str(tmp_path))
    source_kinds.cache_clear()
    yield tmp_path
    sys.modules.pop("bridge_greeter", None)
    source_kinds.cache_clear()


@dataclass
class _Config:
    tools: ToolTables
    source: Path | None
    config_dir: Path


def test_the_built_in_kinds_come_in_source_order() -> None:
    assert [kind.name for kind in source_kinds()] == ["python", "command", "openapi", "mcp"]
    assert [name for name in BridgeConfig.model_fields["tools"].annotation.model_fields] == [
        "python",
        "command",
        "openapi",
        "mcp",
    ]


def test_a_plugin_kind_takes_its_place_and_is_built_and_checked(installed: Path) -> None:
    _plugin(installed, {"greeter": "bridge_greeter:KIND"})

    kinds = source_kinds()
    tables = tables_model(kinds)
    checked = _Config(
        tools=tables.model_validate({"greeter": [{"greeting": "hi", "prefix": "g_"}, {}]}),
        source=installed / "bridge.toml",
        config_dir=installed,
    )
    built = _Config(
        tools=tables.model_validate({"greeter": [{"greeting": "hi"}]}),
        source=None,
        config_dir=installed,
    )
    problems = check_config(checked, StaticSecrets())
    registry = build_registry(built, StaticSecrets())

    assert [kind.name for kind in kinds] == ["python", "greeter", "command", "openapi", "mcp"]
    assert problems == [f"{installed / 'bridge.toml'}: tools.greeter[1].greeting: say something"]
    assert [spec.name for spec in registry.tools()] == ["greet"]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        pytest.param("bridge_greeter:MISSING", "cannot be loaded", id="missing-attribute"),
        pytest.param("bridge_no_such_module:KIND", "cannot be loaded", id="missing-module"),
        pytest.param("bridge_greeter:NOT_A_KIND", "not a bridge.tools.kinds.SourceKind", id="type"),
    ],
)
def test_a_broken_plugin_is_left_out_with_a_warning(
    installed: Path, caplog: pytest.LogCaptureFixture, target: str, reason: str
) -> None:
    _plugin(installed, {"greeter": target})
    caplog.set_level(logging.WARNING, logger="bridge.tools")

    names = [kind.name for kind in source_kinds()]

    assert names == ["python", "command", "openapi", "mcp"]
    (record,) = caplog.records
    assert "'greeter'" in record.getMessage() and reason in record.getMessage()


def test_a_plugin_registered_under_another_name_is_left_out(
    installed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _plugin(installed, {"hello": "bridge_greeter:KIND"})

    names = [kind.name for kind in source_kinds()]

    assert "greeter" not in names and "hello" not in names
    assert "named 'greeter', not 'hello'" in caplog.text


def test_the_command_line_serves_a_plugin_kind(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    plugins = _plugin(tmp_path / "site", {"greeter": "bridge_greeter:KIND"})
    config = tmp_path / "bridge.toml"
    config.write_text(
        textwrap.dedent(
            """
            [[tools.greeter]]
            greeting = "hello"
            prefix = "plugin_"
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(plugins)}

    listed = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "tools", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    unknown = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
        timeout=60,
    )

    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["plugin_greet"]
    assert unknown.returncode == 2
    assert (
        "tools.greeter: unknown tool source kind; known kinds: python, command, openapi, mcp"
        in (unknown.stderr)
    )
