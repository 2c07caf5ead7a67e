"""``python -m bridge.cli``: the same as the ``mcp-bridge`` script."""

from __future__ import annotations

import sys

from bridge.cli import main

sys.exit(main())
