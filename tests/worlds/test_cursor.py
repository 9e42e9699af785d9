"""The helpers every world's ``list_runs`` shares: the cursor and the id-prefix bound."""

from __future__ import annotations

import pytest

from wdk.errors import WorldError
from wdk.worlds._cursor import decode_cursor, encode_cursor, prefix_upper_bound


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(12.5, "run:with:colons")) == (12.5, "run:with:colons")
    with pytest.raises(WorldError):
        decode_cursor("nonsense")


@pytest.mark.parametrize(
    ("prefix", "bound"),
    [
        ("ab", "ac"),
        ("a%", "a&"),
        ("a_", "a`"),
        ("wrun_01HZ", "wrun_01H["),
        ("a\U0010ffff", "b"),
        ("a\U0010ffff\U0010ffff", "b"),
        ("\ud7ff", "\ue000"),  # no surrogate: they have no UTF-8 form
        ("\U0010ffff", None),
        ("", None),
    ],
)
def test_prefix_upper_bound(prefix: str, bound: str | None) -> None:
    assert prefix_upper_bound(prefix) == bound


@pytest.mark.parametrize("prefix", ["ab", "a\U0010ffff", "x\ud7ff", "z"])
def test_prefix_range_is_exactly_starts_with(prefix: str) -> None:
    bound = prefix_upper_bound(prefix)
    assert bound is not None
    candidates = [
        prefix,
        prefix + "\x00",
        prefix + "\U0010ffff",
        prefix + "\U0010ffffz",
        prefix + "zzz",
        prefix[:-1],
        prefix[:-1] + "\U0010ffff",
        bound,
        bound + "a",
        "\U0010ffff",
        "",
    ]
    for text in candidates:
        in_range = prefix <= text < bound
        assert in_range == text.startswith(prefix), text
