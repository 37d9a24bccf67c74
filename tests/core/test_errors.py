"""How an error message shows a user's value: its repr, never more than 200 characters, at bounded cost."""

from __future__ import annotations

import time

from dfembed.core.errors import SHOWN_CHARS, shown


def test_small_values_read_as_their_repr() -> None:
    assert shown("big") == "'big'"
    assert shown(2.5) == "2.5"
    assert shown((0.6, 0.7)) == "(0.6, 0.7)"
    assert shown({"a": [1, None]}) == "{'a': [1, None]}"


def test_a_long_value_is_cut_to_the_limit() -> None:
    text = shown("x" * 10_000)
    assert len(text) == SHOWN_CHARS and text.startswith("'xxx") and "..." in text
    long_list = shown(list(range(10_000)))
    assert len(long_list) <= SHOWN_CHARS and long_list.startswith("[0, 1, 2")


def test_a_value_sharing_its_parts_costs_no_more_than_a_small_one() -> None:
    value: list = ["lol"]
    for _ in range(9):  # 9 levels of 9 references: 387 million strings once expanded
        value = [value] * 9
    began = time.perf_counter()
    text = shown(value)
    assert time.perf_counter() - began < 0.1
    assert len(text) <= SHOWN_CHARS and text.startswith("[[[")


def test_an_integer_beyond_pythons_digit_limit() -> None:
    assert shown(10 ** 5000) == "<int too large to show>"
