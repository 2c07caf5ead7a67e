"""How tool sources reach the vault: a small resolver protocol and ``vault:NAME`` references.

The server adapts ``vaults.Store`` to :class:`SecretResolver`; tests and embedders may use
:class:`StaticSecrets`. Values are read at call time only, never at load time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bridge.errors import SecretUnavailableError

if TYPE_CHECKING:
    from mcp.types import CallToolResult

VAULT_PREFIX = "vault:"
_MIN_REDACTED = 4


@runtime_checkable
class SecretResolver(Protocol):
    """Where tool secrets come from.

    ``exists`` must be cheap (an index lookup, no keyring read); ``get`` reads the value and may
    block, so sources call it from a worker thread. ``get`` raises ``KeyError`` (or the store's
    own error) for a missing secret; its message must never contain a value.
    """

    def exists(self, name: str) -> bool: ...

    def get(self, name: str) -> str: ...


class StaticSecrets:
    """A resolver over a fixed mapping (tests, embedding, ``mcp-bridge tools`` without a store)."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def exists(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(name) from None

    def __repr__(self) -> str:
        return f"StaticSecrets(names={sorted(self._values)!r})"


def vault_reference(value: str) -> str | None:
    """The secret name of a ``vault:NAME`` value, or ``None`` for a literal value."""
    if value.startswith(VAULT_PREFIX):
        return value[len(VAULT_PREFIX) :]
    return None


def resolve_references(
    table: Mapping[str, str], secrets: SecretResolver, what: str
) -> tuple[dict[str, str], tuple[str, ...]]:
    """``table`` with each ``vault:NAME`` value read from ``secrets``, and the values read.

    Blocks (a keyring read): call it from a worker thread. ``what`` names the table in the
    error (``"env"``, ``"headers"``). Raises ``SecretUnavailableError`` naming the secret.
    """
    values: dict[str, str] = {}
    hidden: list[str] = []
    for key, value in table.items():
        secret = vault_reference(value)
        if secret is None:
            values[key] = value
            continue
        try:
            values[key] = secrets.get(secret)
        except Exception as exc:
            raise SecretUnavailableError(secret, key=key, what=what) from exc
        hidden.append(values[key])
    return values, tuple(hidden)


def redact(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value replaced by ``[redacted]``."""
    # Values this short would shred ordinary output and are no real secret anyway.
    for value in sorted({v for v in values if len(v) >= _MIN_REDACTED}, key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return text


def redact_result(result: CallToolResult, values: Iterable[str]) -> CallToolResult:
    """``result`` with each secret value redacted from its text blocks and structured content."""
    from mcp.types import TextContent  # ``import bridge`` (tool modules) stays light

    hidden = tuple(values)
    if not hidden:
        return result
    content = [
        block.model_copy(update={"text": redact(block.text, hidden)})
        if isinstance(block, TextContent)
        else block
        for block in result.content
    ]
    structured = result.structured_content
    if structured is not None:
        structured = _redact_tree(structured, hidden)
    return result.model_copy(update={"content": content, "structured_content": structured})


def _redact_tree(value: Any, hidden: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, hidden)
    if isinstance(value, dict):
        return {key: _redact_tree(item, hidden) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_tree(item, hidden) for item in value]
    return value
