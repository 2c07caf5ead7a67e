"""A secret value as a person or a script hands it over (stdin or a hidden prompt), cleaned once."""

from __future__ import annotations

from vaults.errors import UsageError


def from_input(name: str, text: str) -> str:
    """``text`` without its one trailing line end (``echo``, a file); UsageError if empty."""
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise UsageError(
            f"no value for {name}: pipe it on stdin (e.g. mcp-vault add {name} --kind secret "
            "< file) or type it at the prompt"
        )
    return text
