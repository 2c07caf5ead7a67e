"""The bridge's exceptions: one root, each message says what is wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path

from mcpb.errors import ApiFailure, ProjectError


class BridgeError(ProjectError):
    """Root of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """The config file is missing, unparsable or invalid; names the file and the key."""

    exit_code = 2

    def __init__(self, message: str, *, path: Path | str | None = None, key: str | None = None):
        where = ""
        if path is not None:
            where = f"{path}: "
        if key:
            where += f"{key}: "
        super().__init__(f"{where}{message}")
        self.path = Path(path) if path is not None else None
        self.key = key
        self.detail = message


class ToolLoadError(ConfigError):
    """A tool source could not be loaded (missing module, bad command, bad spec)."""


class SecretReferenceError(ConfigError):
    """A ``vault:NAME`` reference names no secret in the store."""


class SecretUnavailableError(BridgeError):
    """A ``vault:NAME`` value could not be read from the store when a tool needed it."""

    def __init__(self, secret: str, *, key: str, what: str) -> None:
        super().__init__(
            f"secret {secret!r} ({what} {key}) is not available; "
            f"add it with `mcp-vault add {secret} --kind secret`"
        )
        self.secret = secret
        self.key = key


class AgentError(BridgeError, ApiFailure):
    """The agent/session helper could not do what was asked (API refusal, missing credential);
    ``status_code`` and ``request_id`` are set when the API answered."""


class MissingCredentialError(AgentError):
    """An MCP server URL of the agent has no active credential in the session's vaults."""

    def __init__(self, message: str, *, server: str, url: str, vault_ids: list[str]) -> None:
        super().__init__(message)
        self.server = server
        self.url = url
        self.vault_ids = vault_ids


class TunnelError(BridgeError, ApiFailure):
    """An MCP tunnel could not be set up, checked, rotated or archived (an API refusal, a bad
    deployment folder, a certificate that does not verify); ``status_code`` and ``request_id``
    are set when the Tunnels API answered."""
