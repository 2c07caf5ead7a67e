"""``--config FILE``: the bridge's public URL read through the ``mcp_vault.public_url`` hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaults import UsageError
from vaults.public_url import GROUP, from_config

URL = "https://bridge.example.com/mcp"


def test_the_installed_bridge_reads_its_public_url(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text(f'[server]\nname = "inhouse"\npublic_url = "{URL}"\n')
    assert from_config(config) == URL


def test_a_bad_bridge_config_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text("[server\n")
    with pytest.raises(UsageError, match=r"^--config: ") as caught:
        from_config(config)
    assert "\n" not in str(caught.value)


def test_without_a_reader_installed_config_says_to_pass_the_url(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        from_config(tmp_path / "bridge.toml", group=f"{GROUP}.none-installed")
    message = str(caught.value)
    assert "--public-url" in message and "--url" in message and "\n" not in message
