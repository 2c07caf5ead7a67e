"""Running a command: outcomes, output caps, timeouts and killing the process group."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from bridge.tools.command import process as command_process
from tests.bridge.tools.command.support import (
    CONTEXT,
    command,
    family,
    gone,
    python,
    run,
    text,
    wait_for_file,
    wait_until,
)


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


def test_the_child_has_its_own_session_and_no_stdin(tmp_path: Path) -> None:
    spec = command(
        tmp_path,
        argv=python("import os, sys; print(os.getsid(0) == os.getpid(), repr(sys.stdin.read()))"),
    )

    assert text(run(spec)) == "True ''\n"


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
