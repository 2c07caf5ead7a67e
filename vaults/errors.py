"""The vault manager's exceptions: one root, each message says what is wrong and how to fix it.

Messages never contain a secret value. Foreign exceptions (sqlite3, keyring, anthropic) are
wrapped where they enter the package and chained with ``raise ... from exc``.
"""

from __future__ import annotations

from mcpb.errors import ApiFailure, ProjectError


class VaultError(ProjectError):
    """Root of every error the vault manager raises on purpose."""


class UsageError(VaultError):
    """The caller asked for something malformed (bad duration, bad name, bad flag mix)."""

    exit_code = 2


class StoreError(VaultError):
    """The index cannot be opened, read, written or migrated."""


class ConflictError(StoreError):
    """A row conflicts with one the index already holds (a unique key); the caller says which."""


class IndexDamageError(StoreError):
    """The index's write-ahead log holds committed transactions SQLite would drop silently."""

    def __init__(self, message: str, *, frames: int, transactions: int) -> None:
        super().__init__(message)
        self.frames = frames
        self.transactions = transactions


class NotFoundError(VaultError):
    """No credential (or version, or link) by that name."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class AlreadyExistsError(VaultError):
    """A credential by that name already exists."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class KeyringError(VaultError):
    """The secret backend failed (unavailable, refused, or could not decrypt)."""


class KeyringUnavailableError(KeyringError):
    """No usable keyring backend (the fail backend, a plaintext one, or none at all)."""


class KeyringLockedError(KeyringError):
    """The keyring is locked, or did not answer within the timeout (an unlock prompt?)."""


class BackendCorruptError(KeyringError):
    """The encrypted backend could not decrypt or parse what it holds; never read as empty."""


class RotationError(VaultError):
    """A rotation step failed; the rotation is left resumable."""


class RotationInProgressError(RotationError):
    """Another rotation of the same credential is running (or was interrupted)."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class PushError(RotationError):
    """Pushing a value to a remote link failed; the rotation stays resumable."""


class AuditError(VaultError):
    """An audit row could not be written, so the change it records was not made."""


class RemoteError(VaultError, ApiFailure):
    """The Anthropic API refused or failed a vault/credential call (``status_code``,
    ``request_id``)."""


class OAuthError(VaultError):
    """An OAuth request the authorization server refuses: ``code`` is the RFC 6749 error code
    (invalid_request, invalid_client, invalid_grant, unauthorized_client,
    unsupported_grant_type, invalid_scope); the message never holds a token or secret."""

    exit_code = 2

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
