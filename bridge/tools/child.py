"""What the sources that start a child process share (command tools, stdio MCP servers).

Config types: ``ChildCwd`` resolves a relative working directory against the config file's
directory (given as validation context ``config_dir``); ``ChildEnv`` checks variable names and
``vault:`` references. At call time :func:`base_environment` is what every child starts from,
before its ``env`` table; before serving, :func:`child_problems` says why a child could not start.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo

from bridge.tools.secrets import vault_reference

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _resolve_cwd(value: Path | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    value = value.expanduser()
    base = (info.context or {}).get("config_dir")
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return Path(os.path.normpath(value))


def _check_env(value: Mapping[str, str]) -> Mapping[str, str]:
    for name, item in value.items():
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        if vault_reference(item) == "":
            raise ValueError(f"{name}: 'vault:' needs a secret name, like 'vault:crm-key'")
    return value


ChildCwd = Annotated[Path | None, AfterValidator(_resolve_cwd)]
ChildEnv = Annotated[Mapping[str, str], AfterValidator(_check_env)]


def base_environment() -> dict[str, str]:
    """The environment every child starts from (before its ``env`` table).

    ``PATH`` is the bridge's, with the running interpreter's directory first (so ``python``
    means the bridge's Python), plus ``HOME`` and ``LANG``; nothing else of the bridge's own.
    """
    path = os.environ.get("PATH") or os.defpath
    interpreter_dir = str(Path(sys.executable).parent)
    if interpreter_dir not in path.split(os.pathsep):
        path = f"{interpreter_dir}{os.pathsep}{path}"
    return {
        "PATH": path,
        "HOME": os.environ.get("HOME") or str(Path.home()),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }


def program_problem(program: str, cwd: Path, env: Mapping[str, str]) -> str | None:
    """Why ``program`` cannot be started from ``cwd`` with ``env``'s PATH, or ``None``."""
    search = env.get("PATH", base_environment()["PATH"])
    if os.sep in program:
        target = Path(program) if Path(program).is_absolute() else cwd / program
        if not (target.is_file() and os.access(target, os.X_OK)):
            return f"program {program!r} is not an executable file"
    elif shutil.which(program, path=search) is None:
        return f"program {program!r} is not on PATH ({search})"
    return None


def child_problems(
    program: str, cwd: Path, env: Mapping[str, str], *, program_key: str
) -> list[tuple[str, str]]:
    """``(key, what is wrong)`` with a child's working directory and program, before it runs.

    ``program_key`` is the config key that names the program (``argv``, ``command``).
    """
    problems: list[tuple[str, str]] = []
    if not cwd.is_dir():
        problems.append(("cwd", f"{str(cwd)!r} is not a directory"))
    if (problem := program_problem(program, cwd, env)) is not None:
        problems.append((program_key, problem))
    return problems
