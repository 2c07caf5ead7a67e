"""The ``[tunnel]`` table of the bridge config: which MCP tunnel serves the bridge, and how.

``mcp-bridge tunnel up`` fills in ``id`` (and ``[server] public_url``) the first time; the rest
has defaults. Relative paths resolve against the config file's folder. It sits beside
``bridge.config`` rather than in ``bridge.tunnel``, which reads the config: no import circle.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bridge.tools.durations import PositiveDuration

# The newest digests seen in Anthropic's docs (see the README); pin your own with these keys.
PROXY_IMAGE = (
    "us-docker.pkg.dev/anthropic-public-registry/images/mcp-proxy"
    "@sha256:efb27b299d627e4134815663cb8896641eeaee025d734c0f695582b4df38f013"
)
CLOUDFLARED_IMAGE = (
    "cloudflare/cloudflared@sha256:6b599ca3e974349ead3286d178da61d291961182ec3fe9c505e1dd02c8ac31b0"
)
_PINNED = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")
# One DNS label: the server certificate's *.<domain> covers exactly one.
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _resolve(value: Path, info: ValidationInfo) -> Path:
    value = value.expanduser()
    base = (info.context or {}).get("config_dir")
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return Path(os.path.normpath(value))


ConfigPath = Annotated[Path, AfterValidator(_resolve)]
"""A path in the config, relative to the config file's folder."""


def subdomain_for(name: str) -> str:
    """A DNS label made from a server name (``In House`` -> ``in-house``)."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "bridge"


class TunnelConfig(BaseModel):
    """``[tunnel]``: the tunnel (by ``id``, else by display ``name``), its route and folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str | None = Field(default=None, pattern=r"^tnl_[A-Za-z0-9]+$")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    subdomain: str | None = None
    folder: ConfigPath = Path("mcp-tunnel")
    workspace: str | None = Field(default=None, min_length=1)
    proxy_image: str = PROXY_IMAGE
    cloudflared_image: str = CLOUDFLARED_IMAGE
    rotate_token_every: PositiveDuration = 90 * 86400.0
    rotate_certs_every: PositiveDuration = 60 * 86400.0

    @field_validator("subdomain")
    @classmethod
    def _check_subdomain(cls, value: str | None) -> str | None:
        if value is not None and not _LABEL.fullmatch(value):
            raise ValueError(
                f"{value!r} must be one lowercase DNS label (a-z, 0-9, '-', at most 63): the "
                "server certificate's *.<domain> covers exactly one label"
            )
        return value

    @field_validator("proxy_image", "cloudflared_image")
    @classmethod
    def _check_pinned(cls, value: str) -> str:
        if not _PINNED.fullmatch(value):
            raise ValueError(f"{value!r} must be pinned by digest: image@sha256:<64 hex digits>")
        return value

    @field_validator("rotate_certs_every")
    @classmethod
    def _before_expiry(cls, value: float) -> float:
        if value >= 90 * 86400:
            raise ValueError("must be shorter than the server certificate's 90 days, e.g. 60d")
        return value
