"""Shared by the tool source tests: tool modules a test imports do not outlive it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def isolated_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tool modules imported by a test, and the import path it added, do not outlive it."""
    before = list(sys.path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    added = [entry for entry in sys.path if entry not in before]
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if any(origin.startswith(entry + os.sep) for entry in added):
            del sys.modules[name]
