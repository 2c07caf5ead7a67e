from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpb.durations import MAX_DURATION, DurationError, format_duration, parse_duration, to_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0s", 0), ("15m", 900), ("24h", 86400), ("30d", 2592000), ("1h30m", 5400), ("2w", 1209600),
     ("90", 90), ("1.5h", 5400), (" 10S ", 10)],
)  # fmt: skip
def test_parse_duration_reads_common_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "15x", "-5m", "1h-", "h1", "nan", "inf", "5 m"])
def test_parse_duration_rejects_bad_forms_with_a_hint(text: str) -> None:
    with pytest.raises(DurationError, match=r"e\.g\."):
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


@pytest.mark.parametrize("text", ["99999999999d", "3000000d", "36501d", "1e20", "5200000w"])
def test_parse_duration_refuses_lengths_past_the_bound(text: str) -> None:
    with pytest.raises(DurationError, match="too long"):
        parse_duration(text)


def test_a_caller_can_set_a_tighter_bound() -> None:
    assert parse_duration("1d", maximum=86400) == 86400
    with pytest.raises(DurationError, match="at most 1d"):
        parse_duration("25h", maximum=86400)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30s", 30.0), ("2m", 120.0), ("1h30m", 5400.0), (45, 45.0), (0.5, 0.5), ("90", 90.0)],
)
def test_to_seconds_accepts_units_or_seconds(written: object, seconds: float) -> None:
    assert to_seconds(written) == seconds


@pytest.mark.parametrize(
    "written", ["soon", "-5s", True, -1, "5 parsecs", None, float("nan"), float("inf"), 1e12]
)
def test_to_seconds_refuses_what_is_no_duration(written: object) -> None:
    with pytest.raises(DurationError):
        to_seconds(written)


@given(st.floats(min_value=0, max_value=MAX_DURATION))
def test_every_accepted_number_is_within_the_bound(seconds: float) -> None:
    assert 0 <= to_seconds(seconds) <= MAX_DURATION


@given(st.text(max_size=20))
def test_parse_duration_never_fails_other_than_with_a_duration_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except DurationError:
        return
    assert 0 <= value <= MAX_DURATION
