"""Resident ID numbers (GB 11643): check digit, birth date, region, sex, normalisation."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest

from services.kernel.idcard import check_digit, parse_id


def with_check(first17: str) -> str:
    """An ID whose check digit is right, so only the property under test can fail."""
    return first17 + check_digit(first17)


def test_wrong_check_digit_is_refused_with_the_right_digit():
    result = parse_id("130733198207241212")
    assert not result.valid
    assert check_digit("13073319820724121") == "7"
    assert len(result.reasons) == 1
    assert "末位应为 7" in result.reasons[0]
    assert "填写的是 2" in result.reasons[0]


def test_check_digit_satisfies_iso_7064_mod_11_2():
    """Independent of the kernel's tables: weights are 2**(17 - i) and the total is 1 mod 11."""
    seen = set()
    for sequence in range(100, 160):
        number = with_check(f"11010519800101{sequence}")
        values = [10 if c == "X" else int(c) for c in number]
        assert sum(v * pow(2, 17 - i, 11) for i, v in enumerate(values)) % 11 == 1, number
        assert parse_id(number).valid
        seen.add(number[-1])
    assert seen == set("0123456789X")  # every check character was exercised


def test_the_corrected_number_is_valid_and_male():
    result = parse_id("130733198207241217")
    assert result.valid, result.reasons
    assert result.birth_date == date(1982, 7, 24)
    assert result.sex == "male"  # 17th digit 1 is odd


def test_x_check_digit_female():
    result = parse_id("11010519491231002X")
    assert result.valid, result.reasons
    assert result.reasons == ()
    assert result.birth_date == date(1949, 12, 31)
    assert result.sex == "female"  # 17th digit 2 is even
    assert result.sex_label == "女"
    assert result.to_dict()["birth_date"] == "1949-12-31"


def test_lower_case_x_is_normalised():
    result = parse_id("11010519491231002x")
    assert result.valid, result.reasons
    assert result.number == "11010519491231002X"


def test_full_width_digits_are_normalised_with_a_warning():
    result = parse_id("１１０１０５１９４９１２３１００２Ｘ")
    assert result.valid, result.reasons
    assert result.number == "11010519491231002X"
    assert result.number.isascii()
    assert any("全角" in w for w in result.warnings)


def test_half_width_input_has_no_warning():
    assert parse_id("11010519491231002X").warnings == ()


def test_blanks_are_removed():
    assert parse_id(" 110105 19491231 002X ").number == "11010519491231002X"


@pytest.mark.parametrize("value", [130733198207241217, 1.3073319820724122e17, 11010519491231002])
def test_a_number_is_refused_as_stored_as_a_number(value):
    # 130733198207241217 is valid as text: as an Excel number its digits are not trusted.
    result = parse_id(value)
    assert not result.valid
    assert result.birth_date is None
    assert any("存成了数字" in r for r in result.reasons)


def test_the_same_id_as_text_is_valid():
    assert parse_id("130733198207241217").valid


def test_fifteen_digit_first_generation_id_is_refused():
    result = parse_id("130733820724121")
    assert not result.valid
    assert any("15位" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("1307331982072412", "18位，实际为16位"),
        ("13073319820724121X7", "实际为19位"),
        ("1307331982O724121X", "前17位须为数字"),
        ("", "为空"),
        (None, "为空"),
    ],
)
def test_malformed_shapes_are_refused_with_a_reason(value, needle):
    result = parse_id(value)
    assert not result.valid
    assert any(needle in r for r in result.reasons), result.reasons


@pytest.mark.parametrize("birth", ["19820230", "19821301", "19820700", "19810229"])
def test_impossible_birth_date_is_refused(birth):
    result = parse_id(with_check("130733" + birth + "121"))
    assert not result.valid
    assert result.reasons == (f"出生日期 {birth} 不是有效日期",)


def test_leap_day_birth_date_is_accepted():
    result = parse_id(with_check("11010520000229123"))
    assert result.valid, result.reasons
    assert result.birth_date == date(2000, 2, 29)


def test_birth_date_after_today_is_refused():
    number = with_check("11010520240601123")
    assert parse_id(number, today=date(2024, 6, 1)).valid
    result = parse_id(number, today=date(2024, 5, 31))
    assert not result.valid
    assert any("不合理" in r for r in result.reasons)


def test_birth_before_1900_is_refused():
    result = parse_id(with_check("11010518991231123"))
    assert not result.valid
    assert any("不合理" in r for r in result.reasons)


@pytest.mark.parametrize("region", ["990733", "000000", "100101", "270101"])
def test_unknown_region_is_refused(region):
    result = parse_id(with_check(region + "19820724121"))
    assert not result.valid
    assert result.reasons == (f"地区码 {region} 不是有效的省级行政区划代码",)


@pytest.mark.parametrize(
    ("day", "age"),
    [
        (date(2024, 12, 30), 74),  # the day before the 75th birthday
        (date(2024, 12, 31), 75),  # the birthday itself
        (date(2025, 1, 1), 75),
    ],
)
def test_age_on_counts_whole_years(day, age):
    assert parse_id("11010519491231002X").age_on(day) == age


def test_age_on_for_a_leap_day_birth():
    person = parse_id(with_check("11010520000229123"))
    assert person.age_on(date(2018, 2, 28)) == 17
    assert person.age_on(date(2018, 3, 1)) == 18


def test_age_on_an_invalid_number_without_birth_date_raises():
    with pytest.raises(ValueError):
        parse_id("130733820724121").age_on(date(2024, 1, 1))


def tricky_ids(count: int = 3000) -> list[str]:
    """Made-up ID-like strings: valid ones, and every way one can be wrong, in ASCII."""
    rng = random.Random(11643)
    regions = ["110105", "330802", "130733", "990733", "000000", "8301X1"]
    found = []
    for _ in range(count):
        born = f"{rng.randint(1890, 2030)}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
        first17 = rng.choice(regions) + born + f"{rng.randint(0, 999):03d}"
        last = check_digit(first17) if first17.isdigit() else "X"
        last = rng.choice([last, last, last.lower(), rng.choice("0123456789Xx")])
        number = first17 + last
        found.append(rng.choice([number, number, number[: rng.randint(0, 20)], number + "7"]))
    return found


def without_raw(check):
    return replace(check, raw="")


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)  # "1" -> "１", "x" -> "ｘ"


def test_plain_ascii_and_the_normalising_path_agree():
    """Plain ASCII letters and digits skip NFKC and blank removal; with a blank or full-width
    digits the same number goes the long way, and must come out the same."""
    today = date(2024, 6, 1)
    for number in tricky_ids():
        quick = parse_id(number, today=today)
        assert without_raw(parse_id(f" {number}\t", today=today)) == without_raw(quick), number
        wide = parse_id(full_width(number), today=today)
        assert replace(wide, raw="", warnings=()) == without_raw(quick), number
        assert wide.warnings == (("身份证号码含全角字符，已转换为半角",) if number else ())


def test_check_digit_agrees_with_the_weighted_sum():
    rng = random.Random(7064)
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    for _ in range(5000):
        first17 = f"{rng.randrange(10**17):017d}"
        total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
        assert check_digit(first17) == "10X98765432"[total % 11], first17


@pytest.mark.parametrize("value", ["1101051949123100", "110105194912310021", "1101051949123100X"])
def test_check_digit_wants_seventeen_digits(value):
    with pytest.raises(ValueError):
        check_digit(value)
