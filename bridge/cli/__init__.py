"""``mcp-bridge``: a thin command line over the bridge library.

Expected errors become one stderr line and exit code 1 (2 for usage and config errors). The
commands on the bridge itself live in ``commands``, the ``tunnel`` group in ``tunnel``; ``group``
holds the group and what every command shares.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.cli import commands, tunnel  # noqa: F401 - importing them registers their commands
from bridge.cli.group import PROG, cli

__all__ = ["PROG", "cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mcp-bridge`` with ``argv`` (default: the process arguments); returns the exit code."""
    from mcpb.cli import run

    return run(cli, PROG, argv)
