"""Keqiao 2019: the notice's tables and KPI, and the benefit schedule it does not contain.

The shared cases (plugins/keqiao/mutual_aid_keqiao/cases/2019.yaml) pin quotes and the
refusal of claims; these tests check the transcribed targets against the notice's own totals,
the KPI on both sides of each line, and that a schedule file, once written, is what assesses.
Source: seeds/002 (柯桥区总工会 2019-07-23, 附件1–3).
"""

from __future__ import annotations

import shutil
from decimal import Decimal

import pytest
import yaml
from mutual_aid_keqiao import Keqiao, plugin

from services.kernel.errors import PolicyDataError, PolicyError
from services.kernel.facts import load_claim

YEAR = 2019
TOWNS, SYSTEMS = "镇（街道）总工会", "系统工会工作委员会"
WAN = Decimal(10000)  # 1 万元

# The notice's printed totals (小计 / 总计 rows), against which the transcribed rows are summed.
ATTACHMENT_1 = {TOWNS: 54190, SYSTEMS: 30232, "总计": 84422}
ATTACHMENT_2 = {
    "base": 54190,
    "base_amount": Decimal("325.14") * WAN,
    "heads": 1082,
    "amount": Decimal("97.52") * WAN,
}
ATTACHMENT_3 = {
    "base": 30549,
    "base_amount": Decimal(1832940),
    "heads": 608,
    "amount": Decimal(549882),
}


def targets(group: str, kind: str) -> list:
    return [t for t in plugin.targets(YEAR) if t.group == group and t.kind == kind]


def report(actuals: dict, policy: Keqiao = plugin) -> dict:
    return {row.organisation: row for row in policy.kpi_report(YEAR, actuals)}


@pytest.fixture
def edited(tmp_path):
    """A Keqiao built on a copy of the data dir, after ``change(raw_year_file)``."""

    def build(change=None) -> Keqiao:
        data_dir = tmp_path / "data"
        shutil.copytree(plugin.data_dir, data_dir)
        if change is not None:
            path = data_dir / f"{YEAR}.yaml"
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            change(raw)
            path.write_text(
                yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8"
            )
        return Keqiao(data_dir=data_dir)

    return build


# ---- the tables, against the notice's own totals ------------------------------------------


def test_attachment_1_enrolment_targets_sum_to_its_subtotals_and_total():
    towns = targets(TOWNS, "enrolment")
    systems = targets(SYSTEMS, "enrolment")
    assert (len(towns), len(systems)) == (17, 18)
    assert sum(t.figure for t in towns) == ATTACHMENT_1[TOWNS]
    assert sum(t.figure for t in systems) == ATTACHMENT_1[SYSTEMS]
    assert sum(t.figure for t in towns + systems) == ATTACHMENT_1["总计"]


@pytest.mark.parametrize(("group", "totals"), [(TOWNS, ATTACHMENT_2), (SYSTEMS, ATTACHMENT_3)])
def test_claim_targets_sum_to_the_attachments_totals(group, totals):
    heads = targets(group, "claim_headcount")
    money = targets(group, "claim_amount")
    assert sum(t.base for t in heads) == totals["base"]
    assert sum(t.base for t in money) == totals["base_amount"]
    assert sum(t.figure for t in heads) == totals["heads"]
    assert sum(t.figure for t in money) == totals["amount"]


def test_attachment_2_amounts_are_stored_in_whole_yuan_from_wan():
    kq = {t.kind: t for t in plugin.targets(YEAR) if t.organisation == "柯桥街道总工会"}
    assert kq["claim_amount"].base == Decimal("20.40") * WAN == Decimal(204000)
    assert kq["claim_amount"].figure == Decimal("6.12") * WAN == Decimal(61200)
    assert kq["claim_headcount"].base == 3400 and kq["claim_headcount"].figure == 68


def test_every_base_amount_is_its_base_members_times_the_60_yuan_premium():
    price = plugin.year_data(YEAR).price
    assert price == Decimal(60)
    heads = {t.organisation: t.base for t in plugin.targets(YEAR) if t.kind == "claim_headcount"}
    for t in plugin.targets(YEAR):
        if t.kind == "claim_amount":
            assert t.base == heads[t.organisation] * price, t.organisation


def test_each_claim_target_is_base_times_the_kpi_ratio_within_its_rounding():
    """A transcription slip shows here; the notice's uneven rounding stays within one unit."""
    rule = plugin.kpi_rule(YEAR)
    for t in plugin.targets(YEAR):
        if t.kind == "claim_headcount":
            assert abs(t.figure - t.base * rule.headcount_ratio) < 1, t.organisation
        elif t.kind == "claim_amount":
            # 附件2 gives 万元 to two places (100 yuan); 附件3 whole yuan, exact
            step = 100 if t.group == TOWNS else 0
            assert abs(t.figure - t.base * rule.amount_ratio) <= step, t.organisation


def test_the_attachments_round_unevenly_and_are_kept_as_given():
    heads = {t.organisation: t for t in plugin.targets(YEAR) if t.kind == "claim_headcount"}
    assert heads["柯岩街道总工会"].figure == 68  # 3420 × 2% = 68.4, down
    assert heads["文旅局"].figure == 3  # 179 × 2% = 3.58, down
    assert heads["广电总台"].figure == 9  # 446 × 2% = 8.92, up
    assert heads["市场监管局"].figure == 11  # 537 × 2% = 10.74, up


def test_every_sub_union_is_a_district_found_by_the_notices_spelling():
    names = {d.name for d in plugin.districts(YEAR)}
    assert names == {t.organisation for t in plugin.targets(YEAR)}
    assert len(names) == 35
    assert plugin.district(YEAR, "王坛镇总工会 ").name == "王坛镇总工会"
    assert plugin.district(YEAR, "滨海（马鞍）工会").code == "binhai"


def test_the_notice_gives_no_account_and_a_window_to_20_december():
    assert plugin.account(YEAR, "keqiao") is None
    period = plugin.period(YEAR)
    assert (period.window_start, period.window_end.isoformat()) == (None, "2019-12-20")
    assert period.window_open(period.window_end) and not period.window_open(period.cover_end)


# ---- the KPI: 赔付人数 >= target OR 赔付金额 >= target; 0.5 points for a town's miss -----------

KQ = "柯桥街道总工会"  # enrolment 3400; base 3400 人 / 204000 元; targets 68 人 / 61200 元


def kq(enrolled=3400, heads=0, amount="0") -> dict:
    return {
        (KQ, "enrolment"): enrolled,
        (KQ, "claim_headcount"): heads,
        (KQ, "claim_amount"): amount,
    }


def test_headcount_exactly_at_target_meets_the_claim_kpi():
    row = report(kq(heads=68))[KQ]
    assert (row.headcount_met, row.amount_met, row.claim_met) == (True, False, True)
    assert row.headcount_ratio == Decimal("0.02")
    assert row.points_lost == 0


def test_headcount_one_short_misses_it_and_costs_a_town_half_a_point():
    row = report(kq(heads=67))[KQ]
    assert (row.headcount_met, row.claim_met) == (False, False)
    assert row.points_lost == Decimal("0.5")
    assert "扣岗位责任制考核分 0.5 分" in row.explain[-1]


def test_amount_exactly_at_target_meets_the_claim_kpi_alone():
    row = report(kq(heads=0, amount="61200.00"))[KQ]
    assert (row.headcount_met, row.amount_met, row.claim_met) == (False, True, True)
    assert row.amount_ratio == Decimal("0.3")
    assert row.points_lost == 0


def test_amount_one_fen_short_misses_it():
    row = report(kq(heads=67, amount="61199.99"))[KQ]
    assert (row.amount_met, row.claim_met) == (False, False)
    assert row.points_lost == Decimal("0.5")


def test_enrolment_one_short_costs_the_half_point_though_the_claim_kpi_is_met():
    met = report(kq(enrolled=3400, heads=68))[KQ]
    short = report(kq(enrolled=3399, heads=68, amount="61200"))[KQ]
    assert met.enrolment_met and met.points_lost == 0
    assert (short.enrolment_met, short.claim_met) == (False, True)
    assert short.points_lost == Decimal("0.5")


def test_the_target_as_given_rules_even_below_the_ratio():
    """柯岩: 68 paid of 3420 is 1.98%, under 2%, but 附件2 sets 68: judged against 68."""
    row = report({("柯岩街道总工会", "claim_headcount"): 68})["柯岩街道总工会"]
    assert row.headcount_met and row.headcount_ratio < Decimal("0.02")
    assert row.to_dict()["claim_headcount"]["ratio"] == "1.98%"
    assert "基数 × 2% = 68.4 人，按附件所列目标数考核" in row.explain[1]


def test_system_unions_report_the_kpi_against_yuan_but_lose_no_points():
    edu = "教育工会"  # enrolment 9700; base 9747 人 / 584820 元; targets 195 人 / 175446 元
    row = report({(edu, "claim_amount"): "175446", (edu, "enrolment"): 9699})[edu]
    assert (row.amount_met, row.claim_met, row.enrolment_met) == (True, True, False)
    assert row.base_amount == Decimal(584820) and row.amount_ratio == Decimal("0.3")
    assert row.points_lost is None
    below = report({(edu, "claim_amount"): "175445.99"})[edu]
    assert not below.claim_met


def test_jinggong_shares_the_town_tables_but_not_the_town_deduction():
    row = report({})["精功集团总工会"]
    assert row.group == TOWNS and not row.claim_met
    assert row.points_lost is None


def test_every_sub_union_has_a_row_and_what_is_not_given_counts_zero():
    rows = plugin.kpi_report(YEAR, {})
    assert len(rows) == 35 and [r.organisation for r in rows][:2] == [KQ, "柯岩街道总工会"]
    towns = [r for r in rows if r.points_lost is not None]
    assert len(towns) == 16 and all(r.points_lost == Decimal("0.5") for r in towns)


def test_actuals_may_name_a_sub_union_by_code_or_alias():
    row = report({("keqiao", "claim_headcount"): 68, ("柯桥街道", "enrolment"): 3400})[KQ]
    assert row.claim_met and row.enrolment_met


@pytest.mark.parametrize(
    ("actuals", "message"),
    [
        ({("越城区总工会", "enrolment"): 1}, "越城区总工会"),
        ({(KQ, "payout"): 1}, "不认识的实绩类型"),
        ({(KQ, "claim_amount"): 61200.0}, "写成字符串"),
        ({(KQ, "claim_headcount"): "67.5"}, "人数应为整数"),
        ({(KQ, "claim_amount"): "-1"}, "不能为负数"),
        ({(KQ, "enrolment"): 1, ("keqiao", "enrolment"): 2}, "给了两次"),
    ],
)
def test_actuals_the_report_cannot_read_are_errors(actuals, message):
    with pytest.raises(PolicyError, match=message):
        plugin.kpi_report(YEAR, actuals)


def test_the_kpi_numbers_are_read_from_the_year_file(edited):
    def change(raw):
        raw["extra"]["kpi"].update(rule="headcount_and_amount", points_lost="1")

    policy = edited(change)
    row = report(kq(heads=68, amount="61199.99"), policy)[KQ]
    assert row.headcount_met and not row.claim_met
    assert row.points_lost == Decimal(1)
    assert report(kq(heads=68, amount="61199.99"))[KQ].claim_met  # the shipped "或"


def test_a_broken_kpi_rule_is_refused_naming_the_file_and_key(edited):
    def change(raw):
        raw["extra"]["kpi"]["rule"] = "headcount_xor_amount"

    policy = edited(change)
    with pytest.raises(PolicyDataError, match=r"keqiao/data/2019.yaml: extra.kpi.rule"):
        policy.validate()


def test_a_sub_union_without_its_claim_base_is_refused(edited):
    def change(raw):
        next(t for t in raw["targets"] if t["kind"] == "claim_amount").pop("base")

    with pytest.raises(PolicyDataError, match="赔付金额目标缺少基数"):
        edited(change).kpi_report(YEAR, {})


# ---- benefits: only from the schedule file --------------------------------------------------


def test_without_the_schedule_file_there_is_no_catalogue_and_claims_name_the_file():
    assert plugin.benefits(YEAR) == []
    with pytest.raises(PolicyDataError, match="keqiao/data/2019-benefits.yaml"):
        plugin.assess(YEAR, load_claim({"benefit": "inpatient", "total_cost": "1000"}))


SCHEDULE = {
    "source": "测试用待遇标准（非实施办法原文）",
    "benefits": [
        {
            "code": "inpatient",
            "name": "住院医疗补助",
            "kind": "rate",
            "needs": ["self_borne"],
            "counts_by": "admission_date",
            "params": {"base": "self_borne", "threshold": "1000", "rate": "0.25", "cap": "5000"},
            "source": "测试",
        }
    ],
}


def test_a_written_schedule_is_what_the_catalogue_lists_and_assess_uses(edited):
    policy = edited()
    (policy.data_dir / "2019-benefits.yaml").write_text(
        yaml.safe_dump(SCHEDULE, allow_unicode=True), encoding="utf-8"
    )
    assert [b.code for b in policy.benefits(YEAR)] == ["inpatient"]

    def inpatient(self_borne: str, admitted: str = "2019-06-01"):
        claim = {"benefit": "inpatient", "self_borne": self_borne, "admission_date": admitted}
        return policy.assess(YEAR, load_claim(claim))

    paid = inpatient("4000")  # 25% of 4000
    assert (paid.refused, paid.payable, paid.counted) == (
        False,
        Decimal("1000.00"),
        Decimal("4000"),
    )
    assert paid.rule.id == "keqiao.2019.inpatient"
    assert inpatient("40000").payable == Decimal("5000.00")  # the schedule's cap
    assert inpatient("999.99").refused  # under the schedule's threshold
    outside = inpatient("4000", admitted="2020-01-01")
    assert outside.refused and "不在 2019 年度保障期" in outside.reasons[0]

    with pytest.raises(PolicyError, match="没有待遇 'outpatient'"):
        policy.assess(YEAR, load_claim({"benefit": "outpatient", "self_borne": "1"}))


# ---- the CLI ---------------------------------------------------------------------------------


def test_the_cli_lists_the_105_targets(mutual_aid):
    answer = mutual_aid("targets", "--city", "keqiao", "--year", "2019").json()
    rows = answer["targets"]
    assert len(rows) == 105
    assert rows[2] == {
        "organisation": KQ,
        "group": TOWNS,
        "kind": "claim_amount",
        "target": "61200",
        "base": "204000",
        "actual": None,
        "met": None,
    }
