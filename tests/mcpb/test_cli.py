from __future__ import annotations

import click
import pytest

from mcpb.cli import run
from mcpb.errors import ProjectError


@click.group()
def group() -> None:
    """A command group like the project's."""


@group.command()
@click.argument("name")
def add(name: str) -> None:
    raise ProjectError(f"cannot add {name}")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["add", "db", "hunter2-secret"], id="one-extra"),
        pytest.param(["add", "db", "hunter2-secret", "more"], id="two-extra"),
    ],
)
def test_an_unexpected_argument_is_never_echoed(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(group, "prog", argv) == 2
    err = capsys.readouterr().err
    assert "hunter2-secret" not in err
    assert err.startswith("prog: error: Got unexpected extra argument") and err.count("\n") == 1


def test_a_project_error_is_one_line_with_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(group, "prog", ["add", "db"]) == 1
    assert capsys.readouterr().err == "prog: error: cannot add db\n"


def test_a_missing_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(group, "prog", ["add"]) == 2
    assert "see prog add --help" in capsys.readouterr().err
