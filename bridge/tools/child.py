"""Config types shared by the sources that start a child process (command tools, stdio MCP).

``ChildCwd`` resolves a relative working directory against the config file's directory (given
as validation context ``config_dir``); ``ChildEnv`` checks variable names and ``vault:``
references. The child's environment itself is built at call time from these values.
"""

from __future__ import annotations

import os
import re
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
