"""Bridge config files for tests: written into a test's directory, and loaded."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bridge.config import BridgeConfig, load_config


def write(directory: Path, text: str, name: str = "bridge.toml") -> Path:
    """``text`` (dedented) as the config file ``name`` in ``directory``."""
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_toml(directory: Path, text: str) -> BridgeConfig:
    """``text`` written as ``directory/bridge.toml`` and loaded, ignoring the environment."""
    return load_config(write(directory, text), environ={})
