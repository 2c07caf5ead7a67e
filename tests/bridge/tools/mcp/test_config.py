"""The ``[[tools.mcp]]`` table: what a bad one says."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from tests.bridge.configs import load_toml

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        pytest.param('command = ["x"]\nurl = "http://h/mcp"', "either command", id="both"),
        pytest.param("", "either command", id="neither"),
        pytest.param(
            'url = "http://h/mcp"\nbearer = "s3cret"', "vault secret", id="literal-bearer"
        ),
        pytest.param(
            'url = "http://h/mcp"\nheaders = { Authorization = "Bearer x" }',
            "from the vault",
            id="literal-authorization",
        ),
        pytest.param(
            'url = "http://h/mcp"\nenv = { A = "b" }', "command source only", id="env-url"
        ),
        pytest.param('command = ["x"]\nbearer = "vault:k"', "url source only", id="bearer-cmd"),
        pytest.param('url = "ftp://h/mcp"', "http(s) URL", id="bad-url"),
        pytest.param(
            'command = ["x"]\nrestart_delay = "2s"\nrestart_delay_max = "1s"',
            "restart_delay_max",
            id="backoff",
        ),
        pytest.param('command = ["x"]\nmax_processes = 0', "greater than", id="max-processes"),
    ],
)
def test_a_bad_mcp_table_names_the_key_and_the_problem(
    tmp_path: Path, table: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_toml(tmp_path, f'[[tools.mcp]]\nname = "files"\n{table}\n')
    assert str(caught.value).startswith(f"{tmp_path / 'bridge.toml'}: tools.mcp[0]")
    assert fragment in str(caught.value)
