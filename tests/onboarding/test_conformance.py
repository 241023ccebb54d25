"""`city check`: passes for every installed city; a missing citation, a benefit without a
case, a failing case, a bad account, an incoherent period or an unconfirmed value is a
finding naming it (issue 13 point 3)."""

from __future__ import annotations

import re

import pytest
import yaml

from services.kernel.registry import load_registry
from services.onboarding.conformance import check_city


@pytest.mark.parametrize("code", sorted(load_registry().cities))
def test_every_installed_city_passes_the_check(code):
    findings = check_city(load_registry().get(code))
    assert not findings, "\n".join(f.line() for f in findings)


def _edit(path, change):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _lines(policy):
    return [f.line() for f in check_city(type(policy)(data_dir=policy.data_dir))]


def test_a_benefit_without_its_source_is_named(copied):
    policy, package = copied("zhangjiakou", "copy_a")

    def drop(raw):
        next(b for b in raw["benefits"] if b["code"] == "dialysis")["source"] = ""

    _edit(package / "data" / "2024.yaml", drop)
    lines = _lines(policy)
    assert lines == [
        "copy_a 2024 copy_a/data/2024.yaml benefits.dialysis.source: 待遇 慢性肾功能衰竭透析补助 没有注明通知出处"
    ]


def test_an_exclusion_fee_or_account_without_source_is_named(copied):
    policy, package = copied("quzhou", "copy_b")

    def drop(raw):
        del raw["fee"]["source"]
        del raw["districts"][0]["account"]["source"]

    _edit(package / "data" / "2025.yaml", drop)
    lines = _lines(policy)
    assert "copy_b 2025 copy_b/data/2025.yaml fee.source: 缴费标准没有注明通知出处" in lines
    assert any("districts.市本级.account.source" in line for line in lines), lines
    assert len(lines) == 2


def test_a_removed_case_leaves_its_benefit_uncovered(copied):
    policy, package = copied("wujin", "copy_c")
    path = package / "cases" / "2024.yaml"
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    kept = [c for c in cases if "work_injury" not in str(c.get("assess", c.get("assess_sequence")))]
    path.write_text(yaml.safe_dump(kept, allow_unicode=True), encoding="utf-8")
    assert _lines(policy) == [
        "copy_c 2024 copy_c/cases/2024.yaml: 待遇 work_injury（工伤补助金）没有任何案例"
    ]


def test_a_failing_case_is_named(copied):
    policy, package = copied("zhangjiakou", "copy_d")
    path = package / "cases" / "2024.yaml"
    text = path.read_text(encoding="utf-8")
    first = re.search(r'payable: "(\d+\.\d\d)"', text)
    path.write_text(text.replace(first[0], 'payable: "0.01"', 1), encoding="utf-8")
    lines = _lines(policy)
    assert len(lines) == 1 and "案例不通过" in lines[0] and "expected '0.01'" in lines[0]


def test_accounts_and_periods_are_checked(copied):
    policy, package = copied("zhangjiakou", "copy_e")

    def spoil(raw):
        raw["account"]["number"] = "12345"
        raw["account"]["payee"] = " "
        raw["period"]["window"][1] = raw["period"]["cover"][1].replace(year=2025)
        raw["claims"]["deadline"] = {"years_after": 0, "month": 6, "day": 30}

    _edit(package / "data" / "2024.yaml", spoil)
    lines = "\n".join(_lines(policy))
    assert "account: 收款账户没有户名" in lines
    assert "account: 账号应为 10–30 位数字，是 5 位" in lines
    assert "period.window: 参保截止 2025-12-31 晚于保障期结束 2024-12-31" in lines
    assert "claims.deadline: 受理期限 2024-06-30 早于保障期结束 2024-12-31" in lines


def test_sms_templates_are_a_no_op_hook_until_a_city_has_them(copied):
    policy, package = copied("zhangjiakou", "copy_f")
    (package / "data" / "sms.yaml").unlink(missing_ok=True)
    assert policy.sms_templates(2024) is None  # DataPolicy's hook: no data/sms.yaml, no texts
    assert check_city(policy) == []

    class WithTemplates(type(policy)):
        def sms_templates(self, year):
            return {"paid": "{name}，您的互助金已发放。", "long": "{name}" + "长" * 600}

    WithTemplates.__module__ = type(policy).__module__  # its cases are the copy's

    findings = check_city(WithTemplates(data_dir=policy.data_dir))
    assert [f.where for f in findings] == ["sms.long"]
    assert "超过 500 字" in findings[0].message


def test_unconfirmed_values_are_listed_with_their_keys(copied):
    policy, package = copied("zhangjiakou", "copy_g")
    path = package / "data" / "2024.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('rate: "0.10"', 'rate: !unconfirmed "0.10"', 1), encoding="utf-8")
    findings = check_city(type(policy)(data_dir=policy.data_dir))
    assert [(f.kind, f.where) for f in findings] == [
        ("unconfirmed", "copy_g/data/2024.yaml benefits.critical_illness.params.rate")
    ]
    assert "0.10" in findings[0].message and "!unconfirmed" in findings[0].message
