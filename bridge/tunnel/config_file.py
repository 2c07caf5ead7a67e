"""Editing the user's bridge config in place: ``tunnel up`` writes the tunnel's id and the public
URL into the file itself, so that ``serve``, ``check``, ``attach`` and ``mcp-vault ... --config``
all read the same URL, with no second source of truth.

``tomlkit`` keeps the file's comments, order and layout; only the keys set change. The file is
replaced atomically with its mode kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from bridge.errors import ConfigError
from bridge.tunnel.deployment import write_file


def _table(document: tomlkit.TOMLDocument, name: str, path: Path) -> Table:
    found = document.get(name)
    if found is None:
        found = tomlkit.table()
        document[name] = found
    if not isinstance(found, Table):
        raise ConfigError("must be a table", path=path, key=name)
    return found


def edit(path: Path, changes: Mapping[tuple[str, str], str | None]) -> list[str]:
    """Set (or, for None, remove) ``(table, key)`` values in the TOML file at ``path``;
    returns ``"table.key: old -> new"`` for each key that changed."""
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, TOMLKitError) as exc:
        raise ConfigError(f"cannot edit the file: {exc}", path=path) from exc
    changed = []
    for (table_name, key), value in changes.items():
        table = _table(document, table_name, path)
        old = table.get(key)
        if old == value or (old is None and value is None):
            continue
        if value is None:
            del table[key]
        else:
            table[key] = value
        changed.append(f"{table_name}.{key}: {old if old is not None else '-'} -> {value or '-'}")
    if changed:
        mode = os.stat(path).st_mode & 0o777
        write_file(path, tomlkit.dumps(document), mode=mode)
    return changed
