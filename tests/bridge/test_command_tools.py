"""Command tools: argv templating, validation, clean environment, output caps, killing."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from bridge.config import load_config
from bridge.tools.command import process as command_process
from bridge.tools.command.config import CommandToolConfig
from bridge.tools.command.source import command_source
from bridge.tools.registry import CallContext, ToolSpec
from bridge.tools.secrets import SecretResolver, StaticSecrets

PY = sys.executable
HERE = Path(__file__).resolve().parent
SECRET = "sk-live-4Kd8Qm2Vx7Nz5Wp3"
CONTEXT = CallContext(timeout=30, max_output=64 * 1024)


def command(config_dir: Path, secrets: SecretResolver | None = None, **fields: Any) -> ToolSpec:
    cfg = CommandToolConfig.model_validate(
        {"name": "cmd", **fields}, context={"config_dir": config_dir}
    )
    (spec,) = command_source(cfg, config_dir, secrets or StaticSecrets()).tools()
    return spec


def python(code: str, *extra: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code), *extra]


def run(spec: ToolSpec, arguments: dict[str, Any] | None = None, **context: Any) -> CallToolResult:
    ctx = CallContext(timeout=30, max_output=context.get("max_output", 64 * 1024))
    return anyio.run(spec.call, arguments or {}, ctx)


def text(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_until(predicate: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# A child that starts a grandchild in its process group, reports both pids, then hangs.
FAMILY = """
    import os, signal, subprocess, sys, time
    if sys.argv[2] == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d %d" % (os.getpid(), grandchild.pid))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(60)
"""


def family(tmp_path: Path, mode: str = "plain") -> tuple[ToolSpec, Path]:
    pidfile = tmp_path / "pids"
    spec = command(tmp_path, argv=python(FAMILY, str(pidfile), mode))
    return spec, pidfile


async def wait_for_file(path: Path, seconds: float = 10.0) -> list[int]:
    with anyio.fail_after(seconds):
        while not path.exists():
            await anyio.sleep(0.02)
    return [int(pid) for pid in path.read_text().split()]


# Schema and validation


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


ECHO_ARGS = python("import json, sys; sys.stdout.write(json.dumps(sys.argv[1:]))")


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


# Outcomes


def test_exit_zero_gives_stdout(tmp_path: Path) -> None:
    spec = command(tmp_path, argv=python("import sys; print('out'); print('err', file=sys.stderr)"))

    result = run(spec)

    assert result.is_error is False
    assert text(result) == "out\n"


def test_stderr_is_included_when_asked(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=python("import sys; print('out'); print('err', file=sys.stderr)"),
        include_stderr=True,
    )

    assert text(run(spec)) == "out\n\n[stderr]\nerr\n"


def test_no_output_says_so(tmp_path: Path) -> None:
    assert text(run(command(tmp_path, argv=["true"]))) == "(no output)"


def test_a_non_zero_exit_is_an_error_result_with_code_and_stderr(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=python(
            "import sys; print('3 failed'); print('Traceback...', file=sys.stderr); sys.exit(3)"
        ),
    )

    result = run(spec)

    assert result.is_error is True
    assert text(result) == (
        "command failed with exit code 3\n[stdout]\n3 failed\n\n[stderr]\nTraceback...\n"
    )


def test_death_by_signal_is_reported_by_name(tmp_path: Path) -> None:
    spec = command(tmp_path, argv=python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))

    result = run(spec)

    assert result.is_error is True
    assert text(result) == "command killed by signal SIGKILL"


def test_a_missing_program_is_a_tool_error(tmp_path: Path) -> None:
    spec = command(tmp_path, argv=["pytools-no-such-program"])

    with pytest.raises(
        ToolError, match=r"cannot run 'pytools-no-such-program' in .*: No such file"
    ):
        run(spec)


def test_the_child_runs_in_the_config_directory_by_default(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cwd_code = python("import os; print(os.getcwd())")

    default = run(command(tmp_path, argv=cwd_code))
    relative = run(command(tmp_path, argv=cwd_code, cwd="sub"))

    assert text(default).strip() == str(tmp_path)
    assert text(relative).strip() == str(tmp_path / "sub")


def test_the_child_has_its_own_session_and_no_stdin(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=python("import os, sys; print(os.getsid(0) == os.getpid(), repr(sys.stdin.read()))"),
    )

    assert text(run(spec)) == "True ''\n"


# Environment and secrets


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


# Output caps


def test_huge_output_is_truncated_with_a_notice(tmp_path: Path) -> None:
    spec = command(tmp_path, argv=python("import sys; sys.stdout.write('x' * 1048576)"))

    out = text(run(spec, max_output=65536))

    notice = "\n[output truncated: 1048576 bytes, showing the first 65536]"
    assert out == "x" * 65536 + notice


def test_a_failures_stderr_keeps_its_tail(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=python("import sys; sys.stderr.write('e' * 200000 + 'THE-END'); sys.exit(1)"),
    )

    out = text(run(spec, max_output=1000))

    assert out.startswith("command failed with exit code 1\n[stderr]\n")
    assert "[stderr truncated: 200007 bytes, showing the last 1000]\n" in out
    assert out.endswith("e" * 993 + "THE-END")


def test_a_multibyte_character_cut_by_the_cap_is_dropped_cleanly(tmp_path: Path) -> None:
    spec = command(tmp_path, argv=python("import sys; sys.stdout.write('é' * 100)"))

    out = text(run(spec, max_output=11))

    assert out == "é" * 5 + "\n[output truncated: 200 bytes, showing the first 11]"


# Timeouts and cancellation


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    spec, pidfile = family(tmp_path)

    async def main() -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError), anyio.fail_after(1.5):
            await spec.call({}, CONTEXT)
        return time.monotonic() - started

    elapsed = anyio.run(main)

    child, grandchild = (int(pid) for pid in pidfile.read_text().split())
    assert gone(child)
    assert wait_until(lambda: gone(grandchild))
    assert elapsed < 1.5 + command_process.KILL_GRACE


def test_cancellation_kills_the_child_and_grandchild(tmp_path: Path) -> None:
    spec, pidfile = family(tmp_path)

    async def main() -> list[int]:
        async with anyio.create_task_group() as group:
            group.start_soon(spec.call, {}, CONTEXT)
            pids = await wait_for_file(pidfile)
            assert not any(gone(pid) for pid in pids)
            group.cancel_scope.cancel()
        return pids

    child, grandchild = anyio.run(main)

    assert gone(child)
    assert wait_until(lambda: gone(grandchild))


def test_a_child_that_ignores_sigterm_gets_sigkill_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command_process, "KILL_GRACE", 0.3)
    spec, pidfile = family(tmp_path, "ignore-term")

    async def main() -> tuple[list[int], float]:
        async with anyio.create_task_group() as group:
            group.start_soon(spec.call, {}, CONTEXT)
            pids = await wait_for_file(pidfile)
            cancelled = time.monotonic()
            group.cancel_scope.cancel()
        return pids, time.monotonic() - cancelled

    (child, grandchild), took = anyio.run(main)

    assert gone(child)
    assert wait_until(lambda: gone(grandchild))
    assert took >= 0.3


def test_leftover_background_processes_are_cleaned_up_after_success(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=python(
            """
            import subprocess, sys
            p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(p.pid)
            """
        ),
    )

    result = run(spec)

    assert result.is_error is False
    assert wait_until(lambda: gone(int(text(result))))


def test_the_bridge_keeps_working_after_a_killed_call(tmp_path: Path) -> None:
    spec, pidfile = family(tmp_path)
    quick = command(tmp_path, argv=python("print('still here')"))

    async def main() -> str:
        with anyio.move_on_after(0.5):
            await spec.call({}, CONTEXT)
        return text(await quick.call({}, CONTEXT))

    assert anyio.run(main) == "still here\n"
    assert all(wait_until(lambda p=pid: gone(p)) for pid in map(int, pidfile.read_text().split()))


def test_the_example_run_tests_tool_runs_pytest() -> None:
    examples = HERE.parents[1] / "examples"
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
