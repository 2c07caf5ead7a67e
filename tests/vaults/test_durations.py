from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaults.durations import format_duration, parse_duration
from vaults.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0s", 0), ("15m", 900), ("24h", 86400), ("30d", 2592000), ("1h30m", 5400), ("2w", 1209600),
     ("90", 90), ("1.5h", 5400), (" 10S ", 10)],
)  # fmt: skip
def test_parse_duration_reads_common_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "15x", "-5m", "1h-", "h1", "nan", "inf", "5 m"])
def test_parse_duration_rejects_bad_forms_with_a_hint(text: str) -> None:
    with pytest.raises(UsageError, match=r"e\.g\."):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (900, "15m"), (86400, "1d"), (2592000, "30d"), (5400, "1h30m"), (1.5, "1.5s")],
)
def test_format_duration_is_short_and_exact(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
