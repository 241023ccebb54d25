"""The one clock (services/kernel/clock.py): Asia/Shanghai, pinnable, and the only one."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from services.kernel.clock import SHANGHAI, Clock, parse_day
from services.kernel.idcard import check_digit, parse_id


def at(instant: datetime) -> Clock:
    return Clock(instant=lambda: instant)


def test_at_half_past_eleven_utc_it_is_already_tomorrow_in_shanghai():
    clock = at(datetime(2024, 11, 30, 23, 30, tzinfo=UTC))
    assert clock.today() == date(2024, 12, 1)
    assert clock.now() == datetime(2024, 12, 1, 7, 30, tzinfo=SHANGHAI)
    assert clock.now().utcoffset().total_seconds() == 8 * 3600


def test_just_before_midnight_in_shanghai_it_is_still_today():
    assert at(datetime(2024, 11, 30, 15, 59, tzinfo=UTC)).today() == date(2024, 11, 30)


def test_a_pinned_day_fixes_today_but_not_the_recorded_instant():
    instant = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    clock = Clock(date(2024, 11, 1), instant=lambda: instant)
    assert clock.today() == date(2024, 11, 1)
    assert clock.now() == instant  # an audit trail says when it really happened


def test_the_real_clock_answers_shanghai_time():
    now = Clock().now()
    assert now.tzinfo is SHANGHAI
    assert abs((now - datetime.now(UTC)).total_seconds()) < 60


@pytest.mark.parametrize(
    ("text", "day"), [("2024-11-01", date(2024, 11, 1)), (date(2024, 2, 29), date(2024, 2, 29))]
)
def test_parse_day(text, day):
    assert parse_day(text) == day


@pytest.mark.parametrize("text", ["2024-02-30", "20241101", "2024-1-1", "tomorrow", "", None])
def test_parse_day_refuses_anything_else(text):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_day(text)


def test_an_id_born_after_the_given_day_is_refused_and_valid_on_that_day():
    first17 = "11010220250301001"
    number = first17 + check_digit(first17)
    assert not parse_id(number, today=date(2025, 2, 28)).valid
    assert "出生日期 2025-03-01 不合理" in parse_id(number, today=date(2025, 2, 28)).reasons
    assert parse_id(number, today=date(2025, 3, 1)).valid


# "today" and "now" are asked of the clock only: a bare call is the host's zone (or an
# unpinnable real date) slipping back in.
_BARE = re.compile(r"\b(?:date|datetime)\.today\(\)|\bdatetime\.now\(|\btime\.localtime\(")


def test_no_bare_today_or_now_outside_the_clock(root):
    found = []
    for folder in ("services", "plugins"):
        for path in sorted((root / folder).rglob("*.py")):
            if path == root / "services/kernel/clock.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _BARE.search(line):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert found == []
