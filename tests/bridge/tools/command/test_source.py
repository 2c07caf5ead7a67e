"""Command tools: the schema from params, argv templating, validation, environment, secrets."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.server.mcpserver.exceptions import ToolError

from bridge.config import load_config
from bridge.tools.command.source import command_source
from bridge.tools.secrets import StaticSecrets
from tests.bridge.tools.command.support import (
    ECHO_ARGS,
    HERE,
    PY,
    SECRET,
    command,
    python,
    run,
    text,
)


def test_params_become_the_input_schema(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        description="Run the tests",
        argv=["pytest", "{path}", "--count={count}", "-k={keyword}"],
        params={
            "path": {"type": "string", "description": "Test file"},
            "count": {"type": "integer", "default": 1},
            "keyword": {"enum": ["fast", "slow"], "default": "fast"},
        },
        timeout="90s",
        read_only=True,
    )

    assert spec.description == "Run the tests"
    assert spec.input_schema == {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Test file"},
            "count": {"type": "integer", "default": 1},
            "keyword": {"type": "string", "default": "fast", "enum": ["fast", "slow"]},
        },
        "required": ["path"],
        "additionalProperties": False,
    }
    assert spec.timeout == 90.0
    assert spec.source == "command:cmd"
    assert spec.annotations is not None
    assert spec.annotations.read_only_hint is True
    assert spec.annotations.destructive_hint is None


def test_a_pattern_is_in_the_schema_and_enforced(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=["echo", "{ticket}"],
        params={"ticket": {"pattern": "^[A-Z]+-[0-9]+$", "description": "A ticket id"}},
    )

    assert spec.input_schema["properties"]["ticket"]["pattern"] == "^[A-Z]+-[0-9]+$"
    assert text(run(spec, {"ticket": "OPS-42"})) == "OPS-42\n"
    with pytest.raises(ToolError, match="ticket: 'OPS-42; rm' does not match"):
        run(spec, {"ticket": "OPS-42; rm"})


@pytest.mark.parametrize(
    ("fields", "destructive"),
    [({}, True), ({"destructive": False}, False), ({"destructive": True}, True)],
)
def test_write_tools_say_whether_they_destroy(
    tmp_path: Path, fields: dict[str, Any], destructive: bool
) -> None:
    annotations = command(tmp_path, argv=["true"], **fields).annotations

    assert annotations is not None
    assert annotations.read_only_hint is False
    assert annotations.destructive_hint is destructive


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        pytest.param({}, "'n' is a required property", id="missing"),
        pytest.param({"n": "5"}, "n: '5' is not of type 'integer'", id="wrong-type"),
        pytest.param({"n": 1, "mode": "loud"}, "mode: 'loud' is not one of", id="enum"),
        pytest.param({"n": 1, "rm": "-rf"}, "('rm' was unexpected)", id="unknown-argument"),
        pytest.param({"n": True}, "n: True is not of type 'integer'", id="bool-is-not-int"),
    ],
)
def test_invalid_arguments_raise_a_tool_error_naming_the_field(
    tmp_path: Path, arguments: dict[str, Any], fragment: str
) -> None:
    spec = command(
        tmp_path,
        argv=[*ECHO_ARGS, "{n}", "{mode}"],
        params={
            "n": {"type": "integer"},
            "mode": {"enum": ["quiet", "verbose"], "default": "quiet"},
        },
    )

    with pytest.raises(ToolError) as caught:
        run(spec, arguments)

    assert str(caught.value).startswith("Error executing tool cmd: invalid arguments: ")
    assert fragment in str(caught.value)


def test_typed_values_render_as_text_and_defaults_fill_in(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=[*ECHO_ARGS, "{n}", "{ratio}", "{flag}", "{label}"],
        params={
            "n": {"type": "integer"},
            "ratio": {"type": "number", "default": 0.5},
            "flag": {"type": "boolean", "default": False},
            "label": {"default": "none"},
        },
    )

    assert json.loads(text(run(spec, {"n": 3.0, "flag": True}))) == ["3", "0.5", "true", "none"]


@settings(max_examples=30, deadline=None)
@given(
    a=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40),
    b=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=10),
)
def test_each_placeholder_stays_inside_its_one_argv_element(a: str, b: str) -> None:
    spec = command(
        HERE,
        argv=[*ECHO_ARGS, "{a}", "--path={a}", "x{b}y", "{{literal}}"],
        params={"a": {}, "b": {}},
    )

    assert json.loads(text(run(spec, {"a": a, "b": b}))) == [
        a,
        f"--path={a}",
        f"x{b}y",
        "{literal}",
    ]


def test_shell_metacharacters_are_just_text(tmp_path: Path) -> None:
    hostile = "a b; rm -rf / && $(touch pwned) `id` | cat > out * ~ 'q' \"d\" \\ \n!"
    spec = command(tmp_path, argv=[*ECHO_ARGS, "{p}"], params={"p": {}})

    assert json.loads(text(run(spec, {"p": hostile}))) == [hostile]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_nul_byte_in_an_argument_is_refused(tmp_path: Path) -> None:
    spec = command(tmp_path, argv=[*ECHO_ARGS, "{p}"], params={"p": {}})

    with pytest.raises(ToolError, match="must not contain NUL bytes"):
        run(spec, {"p": "a\x00b"})


def test_the_child_runs_in_the_config_directory_by_default(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cwd_code = python("import os; print(os.getcwd())")

    default = run(command(tmp_path, argv=cwd_code))
    relative = run(command(tmp_path, argv=cwd_code, cwd="sub"))

    assert text(default).strip() == str(tmp_path)
    assert text(relative).strip() == str(tmp_path / "sub")


def test_the_child_gets_a_clean_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-should-never-leak")
    monkeypatch.setenv("MCP_BRIDGE_INTERNAL", "bridge-only")
    monkeypatch.setenv("LANG", "C.UTF-8")
    spec = command(
        tmp_path,
        argv=python("import json, os; print(json.dumps(dict(os.environ)))"),
        env={"MODE": "report"},
    )

    env = json.loads(text(run(spec)))

    assert sorted(env) == ["HOME", "LANG", "MODE", "PATH"]
    assert env["HOME"] == os.environ["HOME"]
    assert env["LANG"] == "C.UTF-8"
    assert env["MODE"] == "report"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(PY).parent)


def test_env_can_override_path(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=python("import os; print(os.environ['PATH'])"),
        env={"PATH": "/opt/tools/bin:/usr/bin"},
    )

    assert text(run(spec)) == "/opt/tools/bin:/usr/bin\n"


def test_a_vault_reference_is_read_at_call_time_and_redacted(tmp_path: Path) -> None:
    store = {"billing-key": "placeholder-value"}

    class Live:
        def exists(self, name: str) -> bool:
            return name in store

        def get(self, name: str) -> str:
            return store[name]

    spec = command(
        tmp_path,
        Live(),
        argv=python(
            "import hashlib, os; key = os.environ['API_KEY']; "
            "print(hashlib.sha256(key.encode()).hexdigest()); print('echo:', key)"
        ),
        env={"API_KEY": "vault:billing-key"},
    )
    store["billing-key"] = SECRET

    digest, echoed, _ = text(run(spec)).split("\n")

    assert digest == hashlib.sha256(SECRET.encode()).hexdigest()
    assert echoed == "echo: [redacted]"


def test_a_secret_on_stderr_of_a_failure_is_redacted(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        StaticSecrets({"k": SECRET}),
        argv=python("import os, sys; sys.exit('bad key ' + os.environ['K'])"),
        env={"K": "vault:k"},
    )

    result = run(spec)

    assert result.is_error is True
    assert SECRET not in text(result)
    assert "bad key [redacted]" in text(result)


def test_a_secret_cut_by_the_output_cap_does_not_leak_a_prefix(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        StaticSecrets({"k": SECRET}),
        argv=python("import os, sys; sys.stdout.write('x' * 995 + os.environ['K'] + 'y' * 100)"),
        env={"K": "vault:k"},
    )

    out = text(run(spec, max_output=1000))

    assert SECRET[:5] not in out
    assert out.endswith(
        f"[output truncated: {995 + len(SECRET) + 100} bytes, showing the first 1000]"
    )


def test_a_missing_secret_is_a_tool_error_naming_it(tmp_path: Path) -> None:
    spec = command(tmp_path, argv=["true"], env={"K": "vault:absent-key"})

    with pytest.raises(ToolError) as caught:
        run(spec)

    assert "secret 'absent-key' (env K) is not available" in str(caught.value)
    assert "mcp-vault add absent-key --kind secret" in str(caught.value)


def test_the_example_run_tests_tool_runs_pytest() -> None:
    examples = HERE.parents[3] / "examples"
    (cfg,) = load_config(examples / "bridge.toml", environ={}).tools.command
    (spec,) = command_source(cfg, examples, StaticSecrets()).tools()

    passed = run(spec)
    missing = run(spec, {"test_path": "no_such_test.py"})

    assert passed.is_error is False and "3 passed" in text(passed)
    assert missing.is_error is True
    assert "file or directory not found: sample_tests/no_such_test.py" in text(missing)
    with pytest.raises(ToolError, match=r"test_path: .* does not match"):
        run(spec, {"test_path": "../../tests"})
    assert not (examples / "sample_tests" / ".pytest_cache").exists()
