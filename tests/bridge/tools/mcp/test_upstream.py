"""One supervised upstream session: restarts with growing delays, redacted upstream errors."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import anyio
import pytest

from bridge.errors import ToolLoadError
from bridge.tools.mcp.config import McpToolsConfig
from bridge.tools.mcp.source import McpSource, probe_tools
from bridge.tools.secrets import StaticSecrets

pytestmark = pytest.mark.anyio


async def test_a_server_that_keeps_failing_is_retried_with_growing_delays(
    record: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.mcp")
    cfg = McpToolsConfig(
        name="files",
        command=(str(record / "no-such-server"),),
        restart_delay=0.1,
        restart_delay_max=0.4,
    )
    source = McpSource(cfg, record, StaticSecrets())

    def delays() -> list[str]:
        return [r.getMessage().rsplit(" ", 2)[-2] for r in caplog.records if "retrying" in r.msg]

    await source.start()
    try:
        call = next(iter(source.tools()), None)
        deadline = time.monotonic() + 10
        while len(delays()) < 4:
            assert time.monotonic() < deadline, f"only {delays()} retries"
            await anyio.sleep(0.02)
    finally:
        await source.stop()
    assert call is None and not source.healthy()
    assert delays()[:4] == ["0.1", "0.2", "0.4", "0.4"]
    assert "cannot start it" in caplog.records[0].getMessage()


REFUSING_SERVER = """
import json, os, sys
request = json.loads(sys.stdin.readline())
message = "API_TOKEN " + os.environ["API_TOKEN"] + " is not accepted"
error = {"code": -32603, "message": message}
print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}), flush=True)
sys.stdin.read()
"""


def test_an_upstream_error_echoing_a_vault_value_is_redacted(tmp_path: Path) -> None:
    server = tmp_path / "refusing.py"
    server.write_text(REFUSING_SERVER)
    secret = "child-secret-value-123"
    cfg = McpToolsConfig(
        name="files",
        command=(sys.executable, str(server)),
        env={"API_TOKEN": "vault:files-token"},
    )
    with pytest.raises(ToolLoadError) as caught:
        probe_tools(cfg, tmp_path, StaticSecrets({"files-token": secret}))
    assert "is not accepted" in str(caught.value)
    assert secret not in str(caught.value) and "[redacted]" in str(caught.value)
