"""`city new-year`: next year's file from the last, dates moved, numbers !unconfirmed until
confirmed; both years served; old claims under the old rules (issue 13 point 2)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.kernel.facts import load_claim
from services.kernel.parameters import UNCONFIRMED
from services.onboarding.cases import cases_dir
from services.onboarding.conformance import check_city, unconfirmed
from services.onboarding.newyear import new_year, next_year_text, shift


def fresh(policy):
    return type(policy)(data_dir=policy.data_dir)


@pytest.mark.parametrize("origin", ["zhangjiakou", "wujin", "quzhou", "keqiao"])
def test_the_next_year_is_marked_then_confirmed(copied, origin):
    policy, package = copied(origin, f"copy_ny_{origin}")
    last = max(policy.years())
    made = new_year(policy.code, policy.data_dir, last + 1, None, cases_dir(policy))
    policy = fresh(policy)
    assert policy.years()[-2:] == [last, last + 1]

    findings = check_city(policy)
    assert findings and {f.kind for f in findings} == {"unconfirmed"}, [
        f.line() for f in findings if f.kind != "unconfirmed"
    ]
    assert len(findings) == made.marked == len(unconfirmed(made.data))
    old, new = policy.period(last), policy.period(last + 1)
    assert new.cover_start == shift(old.cover_start, 1) and new.window_end == shift(
        old.window_end, 1
    )

    made.data.write_text(made.data.read_text(encoding="utf-8").replace(f"{UNCONFIRMED} ", ""))
    assert check_city(fresh(policy)) == []


def test_numbers_dates_and_the_notice_are_tagged_the_year_is_not():
    text = 'year: 2024\nsource: 某通知\nperiod:\n  number: 17\n  cover: [2024-01-01, 2024-12-31]   # 第六条 2024-01-01\nfee:\n  price: "50"\n  source: 第六条\n'
    out, marked = next_year_text(text, 2024, 2025)
    assert out == (
        "year: 2025\nsource: !unconfirmed 某通知\nperiod:\n  number: !unconfirmed 18\n"
        "  cover: [!unconfirmed 2025-01-01, !unconfirmed 2025-12-31]   # 第六条 2024-01-01\n"
        'fee:\n  price: !unconfirmed "50"\n  source: 第六条\n'
    )
    assert marked == 5
    assert shift(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_old_claims_keep_the_old_rules_new_ones_take_the_new(copied):
    policy, package = copied("zhangjiakou", "copy_ny_rates")
    made = new_year(policy.code, policy.data_dir, 2025, 2024, cases_dir(policy))
    text = made.data.read_text(encoding="utf-8")
    made.data.write_text(text.replace('rate: !unconfirmed "0.10"', 'rate: "0.12"', 1))
    policy = fresh(policy)

    def critical(day):
        return load_claim(
            {
                "benefit": "critical_illness",
                "total_cost": "100000",
                "disease": "白血病",
                "admission_date": day,
            }
        )

    assert policy.assess(2024, critical("2024-12-30")).payable == Decimal("10000.00")
    assert policy.assess(2025, critical("2025-01-02")).payable == Decimal("12000.00")
    stay_in_2024 = policy.assess(2025, critical("2024-12-30"))
    assert stay_in_2024.refused and "不在 2025 年度保障期" in stay_in_2024.reasons[0]
