"""``python -m vaults.cli``: the same as the ``mcp-vault`` script."""

from __future__ import annotations

import sys

from vaults.cli import main

sys.exit(main())
