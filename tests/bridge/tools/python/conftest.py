"""A fresh tool module per test, loaded as a source."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from bridge.tools.python.source import python_source
from bridge.tools.registry import ToolSpec
from bridge.tools.secrets import SecretResolver, StaticSecrets
from tests.bridge.tools.python.support import Loader


@pytest.fixture
def load(tmp_path: Path, isolated_imports: None) -> Loader:
    """Write ``body`` as a fresh module in tmp_path and load it as a tool source."""

    def load(body: str, secrets: SecretResolver | None = None) -> dict[str, ToolSpec]:
        name = f"pytools_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
        source = python_source(name, tmp_path, secrets or StaticSecrets())
        assert source.name == f"python:{name}"
        return {spec.name: spec for spec in source.tools()}

    return load
