"""The README cannot drift: every command it shows exists, with every option it uses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from bridge.cli import cli as bridge_cli
from vaults.cli import cli as vault_cli

README = Path(__file__).resolve().parents[1] / "README.md"
CLIS = {"mcp-bridge": bridge_cli, "mcp-vault": vault_cli}


def _commands() -> list[str]:
    text = README.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines: list[str] = []
    for block in blocks:
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.split(" ", 1)[0] in CLIS:
                lines.append(line)
    return lines


def test_the_readme_shows_commands() -> None:
    assert len(_commands()) >= 8


@pytest.mark.parametrize("line", _commands())
def test_each_readme_command_and_option_exists(line: str) -> None:
    words = shlex.split(line.split("<", 1)[0])
    command: click.Command = CLIS[words[0]]
    for word in words[1:]:
        if isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    used = {word.split("=", 1)[0] for word in words if word.startswith("--")}
    assert used <= known, f"{line}: unknown options {sorted(used - known)}"
    assert not isinstance(command, click.Group), f"{line}: names no subcommand"
