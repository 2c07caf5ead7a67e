"""Command-line programs as tools: ``[[tools.command]]``.

Modules: ``config`` (the table, argv templates), ``source`` (the tool), ``process`` (running the
program), ``kind``.
"""
