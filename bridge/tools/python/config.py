"""``[[tools.python]]``: which module's ``@tool`` functions to serve."""

from __future__ import annotations

import re

from pydantic import field_validator

from bridge.tools.curation import Curation

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class PythonToolsConfig(Curation):
    """``[[tools.python]]``: a module importable from the config file's directory."""

    module: str

    @field_validator("module")
    @classmethod
    def _check_module(cls, value: str) -> str:
        if not _MODULE.fullmatch(value):
            raise ValueError(f"{value!r} is not a module name (dotted Python identifiers)")
        return value
