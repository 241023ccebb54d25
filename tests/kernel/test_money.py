"""Money: Decimal yuan, half-up to the fen, floats refused, capitals by the banking rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.kernel.money import (
    MAX_AMOUNT,
    MoneyError,
    capitals,
    format_money,
    parse_amount,
    parse_money,
    round_money,
)


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [
        ("0.005", "0.01"),  # half-up: a half fen goes up
        ("2.675", "2.68"),  # as a float 2.675 is 2.67499…; as Decimal it is exact
        ("2.665", "2.67"),  # half-even (banker's) rounding would give 2.66
        ("0.004", "0.00"),
        ("273.091", "273.09"),  # the seed's 5461.82 × 5%
        ("9999.995", "10000.00"),
    ],
)
def test_round_money_is_half_up_to_the_fen(amount, rounded):
    result = round_money(Decimal(amount))
    assert result == Decimal(rounded)
    assert str(result) == rounded  # exactly two places


def test_the_seed_example_rounds_to_273_09():
    assert round_money(Decimal("5461.82") * Decimal("0.05")) == Decimal("273.09")


@pytest.mark.parametrize(
    "value", [2.675, 0.5, 7000.0, True, None, [1], "abc", "", "NaN", "Infinity"]
)
def test_parse_money_refuses_floats_and_non_amounts(value):
    with pytest.raises(MoneyError):
        parse_money(value)


def test_a_refused_float_names_the_field():
    with pytest.raises(MoneyError, match="total_cost"):
        parse_money(7000.0, name="total_cost")


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        ("7000", Decimal("7000")),
        ("7,000.50", Decimal("7000.50")),
        (" 6999.99 ", Decimal("6999.99")),
        (7000, Decimal("7000")),
        (Decimal("2.675"), Decimal("2.675")),
    ],
)
def test_parse_money_reads_strings_ints_and_decimals_exactly(value, amount):
    parsed = parse_money(value)
    assert isinstance(parsed, Decimal)
    assert parsed == amount


def test_format_money_has_two_places_and_rounds_half_up():
    assert format_money(Decimal("7000")) == "7000.00"
    assert format_money(Decimal("2.675")) == "2.68"


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("273.09", "贰佰柒拾叁元零玖分"),
        ("0", "零元整"),
        ("30000", "叁万元整"),
        ("10000", "壹万元整"),
        ("350", "叁佰伍拾元整"),
        ("2550", "贰仟伍佰伍拾元整"),
        ("10", "壹拾元整"),  # the banking rule writes 壹拾, never a bare 拾
        ("1001", "壹仟零壹元整"),
        ("100000.01", "壹拾万元零壹分"),
        ("1.05", "壹元零伍分"),
    ],
)
def test_capitals_follow_the_banking_rule(amount, words):
    assert capitals(Decimal(amount)) == words


def test_capitals_round_before_writing():
    assert capitals(Decimal("2.675")) == "贰元陆角捌分"


@pytest.mark.parametrize(
    "value", ["1e400", "1E2", "NaN", "-Infinity", "0x10", "7000.001", "99999999.999", 7000.0]
)
def test_parse_amount_refuses_exponents_specials_floats_and_a_third_place(value):
    with pytest.raises(MoneyError):
        parse_amount(value)


@pytest.mark.parametrize(
    ("value", "bound"), [("100000000.00", None), ("9999999999999.99", None), ("1.5", Decimal(1))]
)
def test_parse_amount_refuses_amounts_beyond_the_bound(value, bound):
    with pytest.raises(MoneyError, match="不能超过"):
        parse_amount(value, **({} if bound is None else {"maximum": bound}))


def test_parse_amount_reads_what_a_form_holds():
    assert parse_amount("99,999,999.99") == MAX_AMOUNT
    assert parse_amount(" 7000.5 ") == Decimal("7000.5")
    assert parse_amount(Decimal("0.333333"), places=6, maximum=Decimal(1)) == Decimal("0.333333")


def test_capitals_write_what_cn2an_writes():
    """capitals() is written here so the CLI need not import cn2an (issue 14): it must agree
    with cn2an's rmb mode on every fen to 3 000 yuan, round figures and a random sweep."""
    import random

    import cn2an

    rng = random.Random(14)
    cents = [*range(300_000), *(rng.randrange(10_000_000_000) for _ in range(100_000))]
    cents += [10**k for k in range(2, 12)] + [10**k + 100 for k in range(2, 12)]
    amounts = [Decimal(c).scaleb(-2) for c in cents] + [Decimal("-1000.10"), Decimal("-0.05")]
    amounts += [Decimal("100001000.00"), Decimal("123456789.01")]  # 亿: cn2an's own words
    wrong = [(a, capitals(a)) for a in amounts if capitals(a) != cn2an.an2cn(f"{a:.2f}", "rmb")]
    assert wrong == []
