"""Wujin 2024: what the shared cases (plugins/wujin/mutual_aid_wujin/cases/2024.yaml) cannot say.

The cases run against the shipped data; these tests change a copy of the data (a configured
disease list, other rates) or look at the data itself (targets, exclusion scopes, catalogue).
Source: seeds/003 (常州市武进区总工会 2024 年通知).
"""

from __future__ import annotations

import shutil
from decimal import Decimal

import pytest
import yaml
from mutual_aid_wujin import Wujin, plugin

from services.kernel.errors import PolicyDataError, UnknownYear
from services.kernel.facts import load_claim, load_history
from services.kernel.registry import load_registry

YEAR = 2024
INPATIENT_AND_WORK_INJURY = {"inpatient", "work_injury"}  # 六、1
CRITICAL = {"critical_illness", "carcinoma_in_situ"}  # 六、2 (重大疾病补助金, 五、2)


def assess(policy, claim: dict, history: list | None = None):
    return policy.assess(YEAR, load_claim(claim), load_history(history))


@pytest.fixture
def edited(tmp_path):
    """A Wujin built on a copy of the data dir, after ``change(raw_year_file)``."""

    def build(change) -> Wujin:
        data_dir = tmp_path / "data"
        shutil.copytree(plugin.data_dir, data_dir)
        path = data_dir / f"{YEAR}.yaml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(raw)
        path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return Wujin(data_dir=data_dir)

    return build


def benefit_entry(raw: dict, code: str) -> dict:
    return next(b for b in raw["benefits"] if b["code"] == code)


# ---- 五、2 critical illness, once the 30 diseases are configured -------------------------------


def with_diseases(*names):
    def change(raw):
        benefit_entry(raw, "critical_illness")["params"]["diseases"] = list(names)

    return change


def test_a_listed_critical_illness_pays_5000_once_per_period(edited):
    policy = edited(with_diseases("恶性肿瘤", "急性心肌梗塞", "脑中风后遗症"))
    claim = {
        "benefit": "critical_illness",
        "disease": "急性心肌梗塞",
        "diagnosis_date": "2024-05-01",
    }

    first = assess(policy, claim)
    assert (first.refused, first.payable) == (False, Decimal("5000.00"))
    assert "急性心肌梗塞 属规定的重大疾病" in first.explain

    again = assess(policy, claim, [{"benefit": "critical_illness", "payable": "5000.00"}])
    assert again.refused and again.payable == 0
    assert any("每期只能申请一次" in r for r in again.reasons)


def test_an_unlisted_disease_is_refused_naming_the_list_size(edited):
    policy = edited(with_diseases("恶性肿瘤", "急性心肌梗塞", "脑中风后遗症"))
    answer = assess(
        policy,
        {
            "benefit": "critical_illness",
            "disease": "再生障碍性贫血",
            "diagnosis_date": "2024-05-01",
        },
    )
    assert answer.refused
    assert answer.reasons == ("再生障碍性贫血 不在规定的 3 种重大疾病内",)


def test_carcinoma_in_situ_and_critical_illness_are_separate_onces(edited):
    # 五、2: 5000 for one of the 30 diseases, 1000 for carcinoma in situ; neither uses up the other.
    policy = edited(with_diseases("恶性肿瘤"))
    answer = assess(
        policy,
        {"benefit": "critical_illness", "disease": "恶性肿瘤", "diagnosis_date": "2024-10-01"},
        [{"benefit": "carcinoma_in_situ", "payable": "1000.00"}],
    )
    assert (answer.refused, answer.payable) == (False, Decimal("5000.00"))


def test_the_shipped_data_leaves_the_disease_list_unset():
    # The notice does not list the 30 diseases; nothing may be guessed (POLICIES.md, Wujin).
    assert plugin.year_data(YEAR).rules["critical_illness"].params["diseases"] is None


def test_without_a_list_the_claim_is_assessed_and_the_review_explained():
    # 八、(二) 2: the quarterly review (重大疾病鉴定会) decides whether the disease is one of
    # the 30; until a list is configured the claim is assessed, never refused for the list.
    claim = {
        "benefit": "critical_illness",
        "disease": "再生障碍性贫血",
        "diagnosis_date": "2024-05-01",
    }
    answer = assess(plugin, claim)
    assert (answer.refused, answer.payable) == (False, Decimal("5000.00"))
    review = [line for line in answer.explain if "重大疾病鉴定会" in line]
    assert review and "再生障碍性贫血" in review[0] and "八、(二) 2" in review[0]
    assert answer.rule.id == "wujin.2024.critical_illness"


# ---- 五、1 inpatient: the conversion rates and the bands are data ------------------------------


def test_the_not_settled_rate_is_read_from_the_data(edited):
    def change(raw):
        benefit_entry(raw, "inpatient")["params"]["not_settled_rate"] = "0.5"

    policy = edited(change)
    claim = {
        "benefit": "inpatient",
        "self_borne": "10000",
        "settled_by_insurance": False,
        "admission_date": "2024-03-01",
    }
    assert assess(plugin, claim).counted == Decimal("3400.00")
    answer = assess(policy, claim)
    assert (answer.counted, answer.payable) == (Decimal("5000.00"), Decimal("1000.00"))


def test_the_traffic_rate_is_read_from_the_data(edited):
    def change(raw):
        benefit_entry(raw, "inpatient")["params"]["traffic_not_settled_rate"] = "1"

    policy = edited(change)
    claim = {
        "benefit": "inpatient",
        "cause": "traffic",
        "settled_by_insurance": False,
        "total_cost": "20000",
        "liability_share": "0.5",
        "admission_date": "2024-03-01",
    }
    assert assess(plugin, claim).counted == Decimal("5450.00")
    assert assess(policy, claim).counted == Decimal("10000.00")


def test_a_missing_rate_is_a_data_error_naming_the_key(edited):
    def change(raw):
        del benefit_entry(raw, "inpatient")["params"]["not_settled_rate"]

    policy = edited(change)
    claim = {
        "benefit": "inpatient",
        "self_borne": "10000",
        "settled_by_insurance": False,
        "admission_date": "2024-03-01",
    }
    with pytest.raises(PolicyDataError, match=r"benefits\.inpatient\.params\.not_settled_rate"):
        assess(policy, claim)


def test_the_nine_bands_are_contiguous_from_1000_and_open_at_the_top():
    bands = plugin.year_data(YEAR).rules["inpatient"].params["bands"]
    assert len(bands) == 9
    assert bands[0]["from"] == "1000" and bands[-1]["to"] is None
    for lower, upper in zip(bands, bands[1:], strict=False):
        assert lower["to"] == upper["from"]
    assert [b["amount"] for b in bands] == [
        "500",
        "1000",
        "1500",
        "2000",
        "3000",
        "5000",
        "10000",
        "20000",
        "50000",
    ]


# ---- 六、 exclusions ---------------------------------------------------------------------------


def test_every_exclusion_recovers_what_was_paid():
    # 六、1 and 六、2 both end "已发放的补助，予以追回".
    exclusions = plugin.exclusions(YEAR)
    assert exclusions and all(e.recover for e in exclusions)
    paid = assess(
        plugin, {"benefit": "inpatient", "self_borne": "20000", "admission_date": "2024-03-01"}
    )
    assert not paid.refused and paid.recoverable


def test_exclusions_are_scoped_as_the_notice_scopes_them():
    scopes = {e.code: set(e.benefits) for e in plugin.exclusions(YEAR)}
    assert scopes.pop("fraud") == INPATIENT_AND_WORK_INJURY | CRITICAL  # in both lists
    assert scopes.pop("pre_existing") == CRITICAL
    assert scopes.pop("misdiagnosis") == CRITICAL
    assert scopes and all(benefits == INPATIENT_AND_WORK_INJURY for benefits in scopes.values())


def test_only_orthopaedic_correction_is_excused_by_an_accident():
    unless = {e.code: set(e.unless_causes) for e in plugin.exclusions(YEAR) if e.unless_causes}
    assert unless == {"orthopaedic": {"accident", "traffic"}}


# ---- 八、 review and payment; the catalogue -----------------------------------------------------


def test_the_catalogue_cadence_and_payment_terms():
    benefits = {b.code: b for b in plugin.benefits(YEAR)}
    assert list(benefits) == ["inpatient", "critical_illness", "carcinoma_in_situ", "work_injury"]
    assert {code: b.review for code, b in benefits.items()} == {
        "inpatient": "monthly",
        "critical_illness": "quarterly",
        "carcinoma_in_situ": "quarterly",
        "work_injury": "on_receipt",
    }
    assert all((b.pay_within_days, b.pay_days_kind) == (10, "working") for b in benefits.values())
    assert {code: b.counts_by for code, b in benefits.items()} == {
        "inpatient": "admission_date",
        "critical_illness": "diagnosis_date",
        "carcinoma_in_situ": "diagnosis_date",
        "work_injury": "event_date",
    }
    assert "认定工伤决定书" in benefits["work_injury"].attachments
    assert "劳动能力鉴定书（伤残）" in benefits["work_injury"].attachments


# ---- 附件1 targets, 附件3 roster, 二/四 period --------------------------------------------------


def test_the_targets_are_attachment_1_summing_to_55910():
    targets = plugin.targets(YEAR)
    assert len(targets) == 37
    assert len({t.organisation for t in targets}) == 37
    assert {t.kind for t in targets} == {"enrolment"}
    assert sum(t.figure for t in targets) == Decimal("55910")  # 附件1 合计
    figures = {t.organisation: t.figure for t in targets}
    assert figures["高新区"] == Decimal("9000") and figures["发改局"] == Decimal("20")
    assert figures["外卖送餐行业联合工会"] == Decimal("200")


def test_targets_are_met_at_their_figure():
    results = {
        r.target.organisation: r.met
        for r in plugin.evaluate_targets(
            YEAR,
            {("湖塘镇", "enrolment"): Decimal("5000"), ("礼嘉镇", "enrolment"): Decimal("3999")},
        )
    }
    assert results["湖塘镇"] is True and results["礼嘉镇"] is False


def test_the_roster_columns_are_attachment_3():
    roster = plugin.roster_format(YEAR)
    assert [c.field for c in roster.columns] == [
        "seq",
        "town",
        "name",
        "id_number",
        "phone",
        "workplace",
        "card_number",
        "signature",
    ]
    assert [c.titles[0] for c in roster.columns][:7] == [
        "序号",
        "乡镇",
        "姓名",
        "身份证号码",
        "手机号码",
        "工作单位",
        "工会卡卡号",
    ]
    assert {c.field for c in roster.columns if c.required} == {"name", "id_number", "card_number"}
    assert roster.sheet == "授权签字汇总表" and roster.application_sheet is None


def test_the_period_and_the_enrolment_window():
    period = plugin.period(YEAR).to_dict()
    assert period["cover"] == ["2024-01-01", "2024-12-31"]
    assert period["window"] == ["2023-10-07", "2023-12-31"]


def test_another_year_is_refused_by_name():
    with pytest.raises(UnknownYear, match="没有 1999 年度的规则；已有年度: .*2024"):
        plugin.assess(
            1999,
            load_claim({"benefit": "inpatient", "self_borne": "1", "admission_date": "1999-03-01"}),
        )


def test_the_registry_loads_wujin():
    registry = load_registry()
    assert "wujin" in [c.code for c in registry]
    assert not [b for b in registry.broken if b.entry_point == "wujin"]
