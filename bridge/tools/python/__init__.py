"""Python functions as tools: the ``@tool`` decorator and ``Secrets`` (re-exported by ``bridge``).

Only the decorator is imported here, so ``import bridge`` stays light; the source that imports
a tool module and serves its functions is :mod:`bridge.tools.python.source`.
"""

from bridge.tools.python.decorator import Secrets, ToolMeta, tool, tool_functions, tool_meta

__all__ = ["Secrets", "ToolMeta", "tool", "tool_functions", "tool_meta"]
