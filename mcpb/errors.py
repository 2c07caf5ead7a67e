"""The root every error of the project derives from, and the fields of a remote API failure.

``bridge.errors`` and ``vaults.errors`` each keep their own root (``BridgeError``,
``VaultError``); both derive from :class:`ProjectError`, so one command runner handles both.
"""

from __future__ import annotations


class ProjectError(Exception):
    """Root of every error the project raises on purpose; ``exit_code`` is what a CLI returns."""

    exit_code = 1


class ApiFailure(ProjectError):
    """A remote API refused or failed a call; the status and request id are kept as fields."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
