"""Mainland mobile numbers: 11 digits starting with 1, after normalisation."""

from __future__ import annotations

import random

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


def test_plain_digits_and_the_normalising_path_agree():
    """Plain ASCII digits skip NFKC and stripping; with a dash inside or full-width digits the
    same number goes the long way, and must come out the same."""
    rng = random.Random(86)
    numbers = [str(rng.randrange(10 ** rng.randint(1, 15))) for _ in range(1000)]
    numbers += [f"1{rng.randrange(10**10):010d}" for _ in range(1000)]
    numbers += ["0086" + n for n in numbers[-50:]] + ["1" * 11, "0" * 11]
    for number in numbers:
        quick = parse_mobile(number)
        dashed = number[:3] + "-" + number[3:]
        slow = parse_mobile(dashed)
        assert (slow.number, slow.valid, slow.warning) == (quick.number, quick.valid, None), number
        # a refusal quotes the cell as it was filled in
        assert slow.reason == (quick.reason and quick.reason.removesuffix(number) + dashed)
        wide = parse_mobile("".join(chr(ord(c) + 0xFEE0) for c in number))
        assert (wide.number, wide.valid) == (quick.number, quick.valid), number
        assert wide.warning == "手机号码含全角字符，已转换为半角"
