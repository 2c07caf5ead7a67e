"""Running a click group as a command: expected errors become one stderr line and an exit code.

Shared by ``mcp-vault`` and ``mcp-bridge``. Every :class:`~mcpb.errors.ProjectError` carries its
own ``exit_code`` (1 operational, 2 usage); click's own usage errors exit 2.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import click

from mcpb.errors import ProjectError

# click names the extra arguments it got; one may be a secret typed where stdin was meant.
_EXTRA = re.compile(r"^(Got unexpected extra arguments?) \(.*\)$", re.DOTALL)


def run(group: click.Group, prog: str, argv: Sequence[str] | None = None) -> int:
    """Run ``group`` with ``argv`` (default: the process arguments); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = group.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo(f"{prog}: error: aborted", err=True)
        return 1
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        click.echo(f"{prog}: error: {_shown(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except ProjectError as exc:
        click.echo(f"{prog}: error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        click.echo(f"{prog}: error: interrupted", err=True)
        return 130
    return code if isinstance(code, int) else 0


def _shown(message: str) -> str:
    """``message`` without the values of unexpected arguments (secrets come on stdin)."""
    return _EXTRA.sub(
        r"\1 (not shown: values are read from stdin, never from the command line)", message
    )
