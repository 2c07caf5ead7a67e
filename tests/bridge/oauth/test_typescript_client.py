"""The official TypeScript MCP SDK client (npm ``@modelcontextprotocol/sdk``) completes the
client-credentials flow and the PKCE flow against the bridge, discovering everything from the
bridge's 401 and metadata. ``.ci/run`` installs it (``npm ci`` in ``ts_client``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.bridge.conftest import RunningBridge
from tests.bridge.oauth.support import OAUTH_TOML
from vaults.cli import main as vault_main
from vaults.oauth import OAuthService

CLIENT_DIR = Path(__file__).parent / "ts_client"
SDK = CLIENT_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
REDIRECT = "http://127.0.0.1:1/callback"
StartBridge = Callable[..., RunningBridge]

NODE = shutil.which("node")
MISSING = (
    "needs node and the TypeScript SDK: run npm ci in tests/bridge/oauth/ts_client (make test does)"
)


@pytest.fixture(autouse=True)
def _typescript_sdk() -> None:
    if NODE is not None and SDK.is_file():
        return
    if os.environ.get("MCP_TS_CLIENT_REQUIRED") == "1":  # set by .ci/run: a skip would hide it
        pytest.fail(MISSING)
    pytest.skip(MISSING)


def _node(*args: str) -> subprocess.Popen[str]:
    assert NODE is not None
    return subprocess.Popen(
        [NODE, str(CLIENT_DIR / "client.mjs"), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_the_typescript_sdk_completes_the_client_credentials_flow(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge(OAUTH_TOML)
    client, secret = OAuthService(bridge.store).add_client("ts-machine", scopes=["echo", "add"])
    assert secret is not None
    process = _node("client_credentials", f"{bridge.url}/mcp", client.client_id, bridge.url)
    assert process.stdin is not None
    process.stdin.write(secret + "\n")  # never on argv
    process.stdin.flush()
    result = _finish(process)
    assert result["tools"] == ["add", "echo"]
    assert result["echo"] == {"result": "from typescript"}


def test_the_typescript_sdk_completes_the_pkce_flow_with_the_operators_approval(
    start_bridge: StartBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = start_bridge(OAUTH_TOML)
    client, _ = OAuthService(bridge.store).add_client(
        "ts-desktop", scopes=["echo"], redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"], auth_method="none",
    )  # fmt: skip
    process = _node("pkce", f"{bridge.url}/mcp", client.client_id, bridge.url, REDIRECT)
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else ""
    authorize = json.loads(line)["authorize"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [client.client_id]
    consent = httpx.get(authorize).headers["location"]  # the browser's first stop
    match = re.search(r"oauth approve ([A-Z0-9]{4}-[A-Z0-9]{4})", httpx.get(consent).text)
    assert match is not None
    assert vault_main(["oauth", "approve", match.group(1)]) == 0
    back = httpx.get(consent)
    assert back.status_code == 302
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    process.stdin.write(code + "\n")
    process.stdin.flush()
    result = _finish(process)
    assert result["tools"] == ["echo"]
    assert result["echo"] == {"result": "from typescript"}
