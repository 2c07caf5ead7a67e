"""The ``[[tools.openapi]]`` table: what a bad one says."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from tests.bridge.configs import load_toml

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        pytest.param('spec = "a.json"\nbearer = "plain"', "vault secret", id="literal-bearer"),
        pytest.param('spec = "a.json"\nbase_url = "ftp://x"', "http(s) URL", id="bad-base-url"),
        pytest.param('spec = "a.json"\nheaders = { Cookie = "c" }', "from the vault", id="cookie"),
        pytest.param('spec = "a.json"\ntimeout = "soon"', "duration", id="bad-timeout"),
        pytest.param(
            'spec = "a.json"\nretry_delay = "2s"\nretry_delay_max = "1s"',
            "retry_delay_max",
            id="backoff",
        ),
    ],
)
def test_a_bad_openapi_table_names_the_key_and_the_problem(
    tmp_path: Path, table: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_toml(tmp_path, f'[[tools.openapi]]\nname = "inventory"\n{table}\n')
    assert "tools.openapi[0]" in str(caught.value) and fragment in str(caught.value)
