"""What the OAuth tests share: a bridge with ``[auth.oauth]`` on, and a token endpoint client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

import httpx

from tests.bridge.conftest import RunningBridge

OAUTH_TOML = """
[auth.oauth]
enabled = true
"""


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def token_request(
    bridge: RunningBridge, form: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(f"{bridge.url}/token", data=form, headers=headers or {}, timeout=10)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def error_of(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json().get("error")
