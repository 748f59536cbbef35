"""Budget numbers as people write them: "1.5G", "7M", 50_000 -> counts, and back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archkit.search.numbers import format_count, parse_count


@pytest.mark.parametrize(("value", "expected"), [
    ("1.5G", 1_500_000_000),
    ("7M", 7_000_000),
    ("800k", 800_000),
    ("800K", 800_000),
    ("2T", 2_000_000_000_000),
    ("50_000", 50_000),
    ("50000", 50_000),
    (" 12 M ", 12_000_000),
    ("2.5e6", 2_500_000),
    ("1e3K", 1_000_000),
    ("0.5K", 500),
    (1234, 1234),
    (2.5e6, 2_500_000),
    (1499.6, 1500),
])
def test_parse_count(value, expected):
    assert parse_count(value) == expected
    assert isinstance(parse_count(value), int)


@pytest.mark.parametrize("value", [
    "12Q", "G", "", "1.5 GB", "-5M", "1,5G", "five", "1e400", "0", "0.0001", "0M",
    0, -3, float("inf"), float("nan"), -0.4, True, None, [1], {"a": 1},
])
def test_parse_count_refuses(value):
    with pytest.raises(ValueError) as info:
        parse_count(value)
    assert repr(value) in str(info.value) or str(value) in str(info.value)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize(("n", "text"), [
    (1_582_671_872, "1.58G"),
    (6_990_272, "6.99M"),
    (1000, "1K"),
    (12_345, "12.3K"),
    (999, "999"),
    (999_999, "1M"),  # not "1e+03K"
    (999_500_000, "1G"),
    (50_000_000, "50M"),
    (2_000_000_000_000, "2T"),
    (0, "0"),
])
def test_format_count(n, text):
    assert format_count(n) == text


@given(st.integers(min_value=1, max_value=10**14))
def test_format_then_parse_is_within_three_significant_digits(n):
    back = parse_count(format_count(n))
    assert abs(back - n) <= 0.005 * n + 0.5
    assert "e" not in format_count(n)


@given(st.integers(min_value=1, max_value=999), st.sampled_from(["", "K", "M", "G"]))
def test_integer_with_unit(k, unit):
    assert parse_count(f"{k}{unit}") == k * {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}[unit]
    assert parse_count(f"{k}{unit.lower()}") == parse_count(f"{k}{unit}")
