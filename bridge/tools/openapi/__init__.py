"""HTTP services described by OpenAPI as tools: ``[[tools.openapi]]``.

Modules: ``config``, ``document`` (spec loading, references), ``operations`` (operation → tool
mapping), ``request`` (the HTTP call), ``source``, ``kind``.
"""
