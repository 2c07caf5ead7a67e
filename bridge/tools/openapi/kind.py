"""The ``openapi`` source kind: ``[[tools.openapi]]`` entries as sources and their checks."""

from __future__ import annotations

from bridge.errors import ToolLoadError
from bridge.tools.kinds import Checked, LoadContext, SecretUse, SourceKind
from bridge.tools.openapi.config import OpenApiToolsConfig
from bridge.tools.openapi.source import OpenApiSource, openapi_source
from bridge.tools.remote_auth import auth_references


def build(entry: OpenApiToolsConfig, context: LoadContext) -> OpenApiSource:
    """The service's source. Raises ``ToolLoadError`` (key ``spec``) for a bad spec file."""
    try:
        return openapi_source(entry, context.secrets)
    except ToolLoadError as exc:
        raise ToolLoadError(exc.detail, key="spec") from exc


def check(entry: OpenApiToolsConfig, context: LoadContext) -> Checked:
    """Read the document: what it leaves out, selection and curation mistakes, the secrets."""
    uses = [
        SecretUse(key, secret, key) for key, secret in auth_references(entry.headers, entry.bearer)
    ]
    try:
        source = openapi_source(entry, context.secrets)
    except ToolLoadError as exc:
        return Checked(tools=[], problems=[("spec", exc.detail)], secrets=uses)
    tools = [spec.name for spec in source.tools()]
    return Checked(tools=tools, problems=source.problems(), secrets=uses)


KIND = SourceKind(name="openapi", config=OpenApiToolsConfig, build=build, check=check, order=30)
