"""The bridge's public URL read from a bridge config file, through a plugin hook.

``mcp-vault remote link --config FILE`` and ``mcp-vault doctor --config FILE`` want the URL the
bridge serves at. Only the bridge knows how to read its config, and ``vaults`` never imports
``bridge``: the bridge depends on the vault manager, not the other way round. So this is a hook,
in the manner of keyring's backends: a component registers a reader ``(path: Path) -> str`` in the
entry-point group ``mcp_vault.public_url``. The bridge does, in ``pyproject.toml``::

    [project.entry-points."mcp_vault.public_url"]
    bridge = "bridge.public_url:from_config"

With no reader installed, ``--config`` is a usage error that says to pass the URL itself; with
several, the first by entry-point name is used.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from mcpb.errors import ProjectError
from vaults.errors import UsageError

GROUP = "mcp_vault.public_url"


def from_config(path: Path, *, group: str = GROUP) -> str:
    """The public URL in the bridge config at ``path``, read by the reader registered in
    ``group``; UsageError if there is none or the config is bad."""
    readers = sorted(entry_points(group=group), key=lambda entry: entry.name)
    if not readers:
        raise UsageError(
            f"--config {path}: nothing installed reads bridge configs (no {group} entry "
            "point); pass the bridge's public URL with --public-url (doctor) or --url (remote link)"
        )
    reader = readers[0].load()
    try:
        return str(reader(path))
    except ProjectError as exc:
        raise UsageError(f"--config: {exc}") from exc
