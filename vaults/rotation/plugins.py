"""Finding the components that rotation needs (pushers, generators) through entry points.

``mcp-vault rotate --due`` runs from cron, with no bridge process around: whatever pushes a value
to a link kind, or makes a generated secret's next value, must be found from the installed
packages alone. A component registers an installer ``(store: Store) -> None`` in the entry-point
group ``mcp_vault.rotation``; the installer calls :func:`register_pusher` /
:func:`register_generator` for what it provides, bound to that store. The Anthropic vault pusher
is registered the same way (``vaults.remote:install_pusher``), and the bridge's tunnel plugin
(``bridge.tunnel.plugin:install``)::

    [project.entry-points."mcp_vault.rotation"]
    anthropic = "vaults.remote:install_pusher"
    tunnel = "bridge.tunnel.plugin:install"

An installer that fails to load is skipped and remembered: the error of a rotation that then
finds no pusher or generator names it (:func:`broken`).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vaults.store import Store

GROUP = "mcp_vault.rotation"

_broken: dict[str, str] = {}


def install(store: Store, *, group: str = GROUP) -> list[str]:
    """Run every installed rotation plugin's installer for ``store``; returns their names."""
    installed = []
    for entry in sorted(entry_points(group=group), key=lambda found: found.name):
        try:
            entry.load()(store)
        except Exception as exc:  # a broken plugin must not stop the rotation of the others
            _broken[entry.name] = f"{entry.value}: {type(exc).__name__}: {exc}"
            continue
        _broken.pop(entry.name, None)
        installed.append(entry.name)
    return installed


def broken() -> dict[str, str]:
    """The plugins whose installer failed on the last :func:`install`, with why."""
    return dict(_broken)
