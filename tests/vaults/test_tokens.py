from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaults import tokens

_TOKEN = tokens.generate()
_ALPHABET = string.ascii_letters + string.digits + "_-"


def test_a_generated_token_has_the_documented_shape() -> None:
    token = tokens.generate()
    assert re.fullmatch(r"mcpb_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}", token)
    assert len(token) == tokens.TOKEN_LENGTH


def test_parse_returns_the_kid_and_secret_of_a_good_token() -> None:
    token = tokens.generate(kid="abcdefABCDEF")
    parsed = tokens.parse(token)
    assert parsed is not None
    assert parsed.kid == "abcdefABCDEF"
    assert token.split("_")[2] == parsed.secret


def test_tokens_are_unique_and_carry_at_least_256_bits() -> None:
    minted = {tokens.generate() for _ in range(200)}
    assert len(minted) == 200
    assert 62**tokens.SECRET_LENGTH >= 2**256
    secrets_ = {tokens.parse(t).secret for t in minted}  # type: ignore[union-attr]
    assert len(secrets_) == 200


def test_the_parsed_repr_hides_the_secret() -> None:
    parsed = tokens.parse(_TOKEN)
    assert parsed is not None
    assert parsed.secret not in repr(parsed)
    assert parsed.kid in repr(parsed)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "mcpb_",
        _TOKEN.upper(),
        _TOKEN.replace("mcpb_", "mcpx_"),
        _TOKEN + "a",
        " " + _TOKEN,
        _TOKEN[:-1] + ("A" if _TOKEN[-1] != "A" else "B"),
        "mcpb_" + "a" * 12 + "_" + "b" * 43 + "_" + "000000",
    ],
    ids=["empty", "prefix", "case", "other-prefix", "longer", "space", "bad-crc", "made-up"],
)
def test_malformed_tokens_are_rejected(bad: str) -> None:
    assert tokens.parse(bad) is None


@given(
    position=st.integers(min_value=0, max_value=tokens.TOKEN_LENGTH - 1),
    char=st.sampled_from(_ALPHABET),
)
def test_any_single_character_change_is_rejected(position: int, char: str) -> None:
    if _TOKEN[position] == char:
        return
    changed = _TOKEN[:position] + char + _TOKEN[position + 1 :]
    assert tokens.parse(changed) is None


@given(cut=st.integers(min_value=0, max_value=tokens.TOKEN_LENGTH - 1), front=st.booleans())
def test_any_truncation_is_rejected(cut: int, front: bool) -> None:
    truncated = _TOKEN[cut + 1 :] if front else _TOKEN[:cut]
    assert tokens.parse(truncated) is None


def test_hash_secret_is_sha256_and_differs_between_secrets() -> None:
    one, two = tokens.parse(tokens.generate()), tokens.parse(tokens.generate())
    assert one is not None and two is not None
    assert len(tokens.hash_secret(one.secret)) == 32
    assert tokens.hash_secret(one.secret) == tokens.hash_secret(one.secret)
    assert tokens.hash_secret(one.secret) != tokens.hash_secret(two.secret)
