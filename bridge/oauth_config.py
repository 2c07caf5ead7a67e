"""The ``[auth.oauth]`` table: the bridge as an OAuth 2.1 authorization server (off by default).

It sits beside ``bridge.config`` rather than in ``bridge.oauth``, which the app wires from the
config: no import circle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bridge.tools.durations import PositiveDuration


class OAuthConfig(BaseModel):
    """``[auth.oauth]``: token lifetimes and dynamic client registration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    access_token_ttl: PositiveDuration = 3600.0
    refresh_token_ttl: PositiveDuration = 30 * 86400.0
    code_ttl: PositiveDuration = 600.0
    # RFC 7591: anyone who reaches the bridge may register an interactive (PKCE) client; every
    # authorization it asks for still waits for the operator's approval.
    dynamic_registration: bool = False
    # The tool scopes a dynamically registered client may ask for (empty: every tool).
    dynamic_scopes: tuple[str, ...] = ()
