"""A bridge config, a store and the fake Tunnels API, as ``mcp-bridge tunnel`` finds them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.tunnel.setup import names
from tests.fakes.server import RunningFake
from vaults.rotation import unregister_generator, unregister_pusher
from vaults.store import Store

CONFIG = """\
# The in-house bridge. Comments like this one survive `tunnel up`.
[server]
name = "inhouse"
port = 8765

[auth]
tokens = ["agents"]   # the bridge's token
"""
TOKEN, CERTS = names("inhouse")


@dataclass
class Workspace:
    """What a test drives: the config file, its folder, the store, the fake API."""

    config: Path
    api: RunningFake

    @property
    def folder(self) -> Path:
        return self.config.parent / "mcp-tunnel"

    def run(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        code = main([*argv[:2], "--config", str(self.config), *argv[2:]])
        out, err = capsys.readouterr()
        return code, out, err

    def store(self) -> Store:
        return Store.open()


@pytest.fixture
def workspace(
    tmp_path: Path, fake_api: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_api.api_key)
    config = tmp_path / "bridge.toml"
    config.write_text(CONFIG)
    with Store.open() as store:
        store.add_token("agents")
    yield Workspace(config, fake_api)
    for name in ("mcp-tunnel-token", "mcp-tunnel-certs"):
        unregister_generator(name)
    for kind in ("tunnel-env", "tunnel-ca", "tunnel-files"):
        unregister_pusher(kind)
