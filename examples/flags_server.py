"""A team's existing stdio MCP server: feature flags kept in a small JSON file.

The bridge runs it as a child process and re-exposes its tools (see ``[[tools.mcp]]`` in
``bridge.toml``); it knows nothing about the bridge, tokens or vaults. ``FLAGS_FILE`` names the
file (default: ``data/flags.json`` next to this script).

    python examples/flags_server.py          # speaks MCP on stdin/stdout

``list_flags`` and ``get_flag`` are annotated read-only; ``set_flag`` changes the file and is
annotated destructive, so an agent's permission policy asks before it runs (the example config
denies it altogether).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

FLAGS_FILE = Path(os.environ.get("FLAGS_FILE") or Path(__file__).with_name("data") / "flags.json")

server = MCPServer("flags", instructions="Feature flags of the shop's services.")
_lock = threading.Lock()


class Flag(BaseModel):
    name: str
    description: str
    owner: str
    enabled: bool
    rollout_percent: int = Field(ge=0, le=100)
    updated: str


def _load() -> list[Flag]:
    data = json.loads(FLAGS_FILE.read_text(encoding="utf-8"))
    return [Flag.model_validate(item) for item in data["flags"]]


def _save(flags: list[Flag]) -> None:
    text = json.dumps({"flags": [flag.model_dump() for flag in flags]}, indent=2) + "\n"
    # Write then rename: a reader never sees half a file.
    fd, temporary = tempfile.mkstemp(dir=FLAGS_FILE.parent, prefix=".flags-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, FLAGS_FILE)


def _find(flags: list[Flag], name: str) -> Flag:
    for flag in flags:
        if flag.name == name:
            return flag
    known = ", ".join(sorted(flag.name for flag in flags))
    raise ToolError(f"no flag named {name!r}; known flags: {known}")


@server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
def list_flags(
    owner: Annotated[str | None, Field(description="Only the flags of this team")] = None,
    enabled: Annotated[bool | None, Field(description="Only enabled (or disabled) flags")] = None,
) -> list[Flag]:
    """List the feature flags, optionally only one team's or only enabled/disabled ones."""
    return [
        flag
        for flag in _load()
        if (owner is None or flag.owner == owner) and (enabled is None or flag.enabled == enabled)
    ]


@server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
def get_flag(name: Annotated[str, Field(description="The flag's name, e.g. new-checkout")]) -> Flag:
    """One feature flag by name: whether it is on, for what share of users, and who owns it."""
    return _find(_load(), name)


@server.tool(
    annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    )
)
def set_flag(
    name: Annotated[str, Field(description="The flag's name")],
    enabled: Annotated[bool, Field(description="Turn the flag on or off")],
    rollout_percent: Annotated[
        int | None, Field(ge=0, le=100, description="Share of users who get it (0-100)")
    ] = None,
) -> Flag:
    """Turn a feature flag on or off, and optionally change its rollout percentage."""
    with _lock:
        flags = _load()
        flag = _find(flags, name)
        changed = flag.model_copy(
            update={
                "enabled": enabled,
                "rollout_percent": flag.rollout_percent
                if rollout_percent is None
                else rollout_percent,
                "updated": datetime.now(UTC).date().isoformat(),
            }
        )
        _save([changed if item.name == name else item for item in flags])
    return changed


if __name__ == "__main__":
    server.run()
