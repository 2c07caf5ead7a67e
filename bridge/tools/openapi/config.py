"""``[[tools.openapi]]``: an HTTP service, its OpenAPI document, and which operations to serve."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bridge.tools.curation import Curation
from bridge.tools.durations import PositiveDuration
from bridge.tools.remote_auth import AbsoluteUrl, Headers, SourceName, VaultBearer


def is_url(value: str) -> bool:
    """True for an http(s) URL (the document is fetched), false for a file path."""
    return urlsplit(value).scheme in ("http", "https")


class OpenApiToolsConfig(Curation):
    """``[[tools.openapi]]``: the operations of an HTTP service, from its OpenAPI document."""

    name: SourceName
    spec: str
    base_url: AbsoluteUrl | None = None
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    bearer: VaultBearer | None = None
    headers: Headers = {}
    timeout: PositiveDuration | None = None
    max_connections: int = Field(default=10, ge=1, le=1000)
    retry_delay: PositiveDuration = 1.0
    retry_delay_max: PositiveDuration = 60.0

    @field_validator("spec")
    @classmethod
    def _resolve_spec(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            raise ValueError("give a file path or an http(s) URL of the OpenAPI document")
        if is_url(value):
            return value
        path = Path(value).expanduser()
        base = (info.context or {}).get("config_dir")
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        return str(path)

    @model_validator(mode="after")
    def _check_retry(self) -> OpenApiToolsConfig:
        if self.retry_delay_max < self.retry_delay:
            raise ValueError("retry_delay_max must be at least retry_delay")
        return self
