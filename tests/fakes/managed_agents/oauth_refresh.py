"""What the platform does with an ``mcp_oauth`` credential: call the MCP server with its access
token, refresh it at the credential's token endpoint (after a 401, or once ``expires_at`` has
passed), and ``mcp_oauth_validate``.

A refresh is one ``refresh_token`` grant (RFC 6749 §6) with the credential's client
authentication (``client_secret_basic``: HTTP Basic; ``client_secret_post``: in the form;
``none``: ``client_id`` only); a 200 replaces the access token, its expiry (``expires_in``) and
the refresh token when a new one is returned; then the call is retried once. ``McpOAuth`` is
that behaviour as an ``httpx2.Auth`` for the MCP client the tests run as the platform.
Refreshes of one credential are serialised, and a caller whose token another caller has
refreshed meanwhile only retries: the bridge rotates refresh tokens and treats a spent one
presented again as theft, so two callers refreshing with one token would end the grant.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import httpx
import httpx2

from tests.fakes.managed_agents.errors import bad
from tests.fakes.managed_agents.values import now, ts

BODY_LIMIT = 4096  # what a validation result keeps of a response body
_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "anthropic-platform-probe", "version": "1"},
    },
}


@dataclass(frozen=True)
class RefreshRequest:
    url: str
    headers: dict[str, str]
    form: dict[str, str]


def http_response(status: int, content_type: str, body: str) -> dict[str, Any]:
    return {
        "status_code": status,
        "content_type": content_type,
        "body": body[:BODY_LIMIT],
        "body_truncated": len(body) > BODY_LIMIT,
    }


class OAuthPlatform:
    """The platform side of ``mcp_oauth`` credentials, over the fake's stored credentials."""

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials  # tests.fakes.managed_agents.credentials.Credentials
        self.refreshes: list[tuple[str, int]] = []  # (credential id, HTTP status) per attempt
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def refresh_from(self, vault_id: str, credential_id: str, seen: str) -> bool:
        """Refresh, unless the access token is no longer ``seen`` (another caller refreshed
        meanwhile); one refresh at a time per credential. True if a fresh token is held."""
        with self._locks_lock:
            lock = self._locks.setdefault(credential_id, threading.Lock())
        with lock:
            if self.access_token(vault_id, credential_id) != seen:
                return True
            return self.refresh_now(vault_id, credential_id)["status"] == "succeeded"

    def _oauth(self, vault_id: str, credential_id: str) -> tuple[dict[str, Any], dict[str, str]]:
        record = self.credentials.record(vault_id, credential_id)
        if record.body["auth"]["type"] != "mcp_oauth":
            raise bad(f"Credential {credential_id} is not an mcp_oauth credential")
        return record.body, self.credentials.vaults.secrets[credential_id]

    def access_token(self, vault_id: str, credential_id: str) -> str:
        with self.credentials.lock:
            return self._oauth(vault_id, credential_id)[1]["secret"]

    def expired(self, vault_id: str, credential_id: str) -> bool:
        with self.credentials.lock:
            body, _ = self._oauth(vault_id, credential_id)
            expires = body["auth"].get("expires_at")
        return expires is not None and datetime.fromisoformat(expires) <= now()

    def refresh_request(self, vault_id: str, credential_id: str) -> RefreshRequest | None:
        """The token request a refresh sends, or None if the credential cannot refresh."""
        with self.credentials.lock:
            body, secret = self._oauth(vault_id, credential_id)
            refresh = body["auth"].get("refresh")
            if refresh is None or not secret.get("refresh_token"):
                return None
            form = {"grant_type": "refresh_token", "refresh_token": secret["refresh_token"]}
            if refresh.get("scope"):
                form["scope"] = refresh["scope"]
            if refresh.get("resource"):
                form["resource"] = refresh["resource"]
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            method = refresh["token_endpoint_auth"]["type"]
            if method == "client_secret_basic":
                client_id = quote(refresh["client_id"], safe="")
                pair = f"{client_id}:{quote(secret['client_secret'], safe='')}"
                headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            else:
                form["client_id"] = refresh["client_id"]
                if method == "client_secret_post":
                    form["client_secret"] = secret["client_secret"]
            return RefreshRequest(refresh["token_endpoint"], headers, form)

    def apply_refresh(self, vault_id: str, credential_id: str, status: int, text: str) -> bool:
        """Store what a token endpoint answered; True if the credential was refreshed."""
        self.refreshes.append((credential_id, status))
        if status != 200:
            return False
        try:
            answer = json.loads(text)
            access = answer["access_token"]
        except (ValueError, KeyError, TypeError):
            return False
        with self.credentials.lock:
            record = self.credentials.record(vault_id, credential_id)
            secret = dict(self.credentials.vaults.secrets[credential_id])
            secret["secret"] = access
            if answer.get("refresh_token"):
                secret["refresh_token"] = answer["refresh_token"]
            updated = copy.deepcopy(record.body)
            if answer.get("expires_in"):
                moment = now() + timedelta(seconds=float(answer["expires_in"]))
                updated["auth"]["expires_at"] = ts(moment)
            updated["updated_at"] = ts(now())
            record.body = updated
            self.credentials.vaults.secrets[credential_id] = secret
        return True

    def refresh_now(self, vault_id: str, credential_id: str) -> dict[str, Any]:
        """Refresh with a blocking HTTP call; the validation result's ``refresh`` object."""
        request = self.refresh_request(vault_id, credential_id)
        if request is None:
            return {"status": "no_refresh_token", "http_response": None}
        try:
            answer = httpx.post(request.url, data=request.form, headers=request.headers, timeout=10)
        except httpx.HTTPError:
            return {"status": "connect_error", "http_response": None}
        ok = self.apply_refresh(vault_id, credential_id, answer.status_code, answer.text)
        return {
            "status": "succeeded" if ok else "failed",
            "http_response": http_response(
                answer.status_code, answer.headers.get("content-type", ""), answer.text
            ),
        }

    def _probe(self, url: str, token: str) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18",
        }
        return httpx.post(url, json=_INITIALIZE, headers=headers, timeout=10)

    def validate(self, vault_id: str, credential_id: str) -> dict[str, Any]:
        """``mcp_oauth_validate``: probe the MCP server; after a 401, refresh and probe again."""
        with self.credentials.lock:
            body, secret = self._oauth(vault_id, credential_id)
            if body["archived_at"] is not None:
                raise bad(f"Credential {credential_id} is archived")
            url = body["auth"]["mcp_server_url"]
            has_refresh = bool(secret.get("refresh_token"))
        result: dict[str, Any] = {
            "type": "vault_credential_validation",
            "credential_id": credential_id,
            "vault_id": vault_id,
            "has_refresh_token": has_refresh,
            "validated_at": ts(datetime.now(UTC)),
            "mcp_probe": None,
            "refresh": None,
        }
        try:
            probe = self._probe(url, self.access_token(vault_id, credential_id))
        except httpx.HTTPError:
            result["status"] = "unknown"
            result["mcp_probe"] = {"method": "initialize", "http_response": None}
            return result
        if probe.status_code == 401:
            result["refresh"] = self.refresh_now(vault_id, credential_id)
            if result["refresh"]["status"] == "succeeded":
                probe = self._probe(url, self.access_token(vault_id, credential_id))
        if probe.is_success:
            result["status"] = "valid"
            return result
        result["status"] = "invalid"
        result["mcp_probe"] = {
            "method": "initialize",
            "http_response": http_response(
                probe.status_code, probe.headers.get("content-type", ""), probe.text
            ),
        }
        return result


class McpOAuth(httpx2.Auth):
    """An MCP client's HTTP auth as the platform does it for one ``mcp_oauth`` credential: the
    refresh goes to the token endpoint on its own connection (in a worker thread for an async
    client), so the caller sees the retried call's response, or the original 401."""

    def __init__(self, platform: OAuthPlatform, vault_id: str, credential_id: str) -> None:
        self.platform = platform
        self.vault_id = vault_id
        self.credential_id = credential_id

    def _token(self) -> str:
        return self.platform.access_token(self.vault_id, self.credential_id)

    def _refresh(self, seen: str) -> bool:
        return self.platform.refresh_from(self.vault_id, self.credential_id, seen)

    def _expired(self) -> bool:
        return self.platform.expired(self.vault_id, self.credential_id)

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        if self._expired():
            self._refresh(self._token())
        used = self._token()
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401 and self._refresh(used):
            request.headers["Authorization"] = f"Bearer {self._token()}"
            yield request

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        if self._expired():
            await anyio.to_thread.run_sync(self._refresh, self._token())
        used = self._token()
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401 and await anyio.to_thread.run_sync(self._refresh, used):
            request.headers["Authorization"] = f"Bearer {self._token()}"
            yield request
