"""The ``[[tools.command]]`` table: argv templates."""

from __future__ import annotations

import pytest

from bridge.tools.command.config import parse_template


@pytest.mark.parametrize(
    ("element", "parts"),
    [
        ("plain", [("plain", None)]),
        ("{p}", [("", "p")]),
        ("--path={p}", [("--path=", "p")]),
        ("{a}-{b}.txt", [("", "a"), ("-", "b"), (".txt", None)]),
        ("{{literal}}", [("{", None), ("literal}", None)]),
    ],
)
def test_argv_templates_split_into_text_and_placeholders(
    element: str, parts: list[tuple[str, str | None]]
) -> None:
    assert parse_template(element) == parts
