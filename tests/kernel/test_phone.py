"""Mainland mobile numbers: 11 digits starting with 1, after normalisation."""

from __future__ import annotations

import pytest

from services.kernel.phone import parse_mobile


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        "+86 138 1234 5678",
        "+8613812345678",
        "0086 13812345678",
        "138-1234-5678",
        " 13812345678\t",
        13812345678,
        13812345678.0,  # a phone column Excel stored as numbers
    ],
)
def test_valid_mobiles_normalise_to_eleven_digits(value):
    result = parse_mobile(value)
    assert result.valid, result.reason
    assert result.number == "13812345678"
    assert result.reason is None
    assert result.warning is None


def test_full_width_digits_are_normalised_with_a_warning():
    result = parse_mobile("１３８１２３４５６７８")
    assert result.valid
    assert result.number == "13812345678"
    assert "全角" in result.warning


@pytest.mark.parametrize(
    "value",
    [
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "23812345678",  # does not start with 1
        "8613812345678",  # a country code without + or 00 is not stripped
        "1381234567a",
        "010-12345678",  # a landline
    ],
)
def test_invalid_mobiles_are_refused_with_a_reason(value):
    result = parse_mobile(value)
    assert not result.valid
    assert "11位" in result.reason


@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_mobile_is_refused(value):
    result = parse_mobile(value)
    assert not result.valid
    assert "为空" in result.reason
