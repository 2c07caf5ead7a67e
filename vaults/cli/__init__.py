"""``mcp-vault``: a thin command line over ``vaults.Store`` and the services on top of it.

Expected errors print one line on stderr (``mcp-vault: error: ...``) and exit 1 (2 for usage).
Values are read from stdin or a hidden prompt, never from argv; only ``add``/``rotate`` of a token
and ``get --reveal`` print one. The commands on the store live in ``commands``, those on its
database (migrate, export, import) in ``database``, the ``remote`` group in ``remote``, the
``oauth`` group in ``oauth``; ``group`` holds the group itself and what every command shares.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcpb.cli import run
from vaults.cli import commands, database, oauth, remote  # noqa: F401 - importing registers commands
from vaults.cli.group import PROG, cli

__all__ = ["PROG", "cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mcp-vault`` with ``argv`` (default: the process arguments); returns the exit code."""
    return run(cli, PROG, argv)
