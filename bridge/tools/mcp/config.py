"""``[[tools.mcp]]``: an existing MCP server to re-expose, a stdio child or a remote URL."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from bridge.tools.child import ChildCwd, ChildEnv
from bridge.tools.curation import Curation
from bridge.tools.durations import PositiveDuration
from bridge.tools.remote_auth import AbsoluteUrl, Headers, SourceName, VaultBearer


class McpToolsConfig(Curation):
    """``[[tools.mcp]]``: a stdio server to run (``command``) or a remote one (``url``)."""

    name: SourceName
    command: tuple[str, ...] | None = Field(default=None, min_length=1)
    cwd: ChildCwd = None
    env: ChildEnv = {}
    url: AbsoluteUrl | None = None
    transport: Literal["streamable-http", "sse"] | None = None
    bearer: VaultBearer | None = None
    headers: Headers = {}
    per_client: bool = False
    max_processes: int = Field(default=8, ge=1, le=1024)
    idle_timeout: PositiveDuration = 600.0
    start_timeout: PositiveDuration = 30.0
    restart_delay: PositiveDuration = 0.5
    restart_delay_max: PositiveDuration = 30.0
    timeout: PositiveDuration | None = None

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value[0]:
            raise ValueError("the program (command[0]) must not be empty")
        return value

    @model_validator(mode="after")
    def _check_shape(self) -> McpToolsConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("set either command (a stdio server to run) or url (a remote server)")
        if self.command is not None and (self.bearer or self.headers or self.transport):
            raise ValueError("bearer, headers and transport apply to a url source only")
        if self.url is not None and (self.env or self.cwd):
            raise ValueError("env and cwd apply to a command source only")
        if self.bearer and any(name.lower() == "authorization" for name in self.headers):
            raise ValueError(
                "give the credential as bearer or as an Authorization header, not both"
            )
        if self.restart_delay_max < self.restart_delay:
            raise ValueError("restart_delay_max must be at least restart_delay")
        return self
