"""Statistics of a city-year: by benefit and by disease (Zhangjiakou's form), per unit against
premiums (the reimbursement rate), and Quzhou's settlement records feeding the preferential
units of a later year (issue 5, done-when)."""

from __future__ import annotations

import shutil
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from mutual_aid_quzhou import Quzhou

from services.claims import payouts, settlements, statistics
from services.claims.statistics import UnitFigures
from tests.claims.flow import approve, new_claim, record
from tests.enrollment.samples import person

DAY = date(2024, 6, 3)


def zjk_claim(session, policy, cover, who, facts, *, approve_it=True, pay=False):
    claim = new_claim(session, policy, cover, who, facts, year=2024, today=DAY)
    if approve_it:
        approve(session, policy, claim, DAY)
    if pay:
        event = {
            "v": 1,
            "event_id": str(uuid.uuid4()),
            "claim_id": claim.id,
            "payout_id": f"P-{claim.id[:6]}",
            "amount": f"{claim.payable:.2f}",
        }
        payouts.on_payout_succeeded(session, event=event, record=record(session))
    return claim


def critical(disease, cost="120000"):
    return {
        "benefit": "critical_illness",
        "total_cost": cost,
        "disease": disease,
        "admission_date": "2024-03-01",
    }


def test_claims_and_amounts_by_benefit_and_by_disease(session, zhangjiakou, cover):
    a, b, c = person(30), person(31), person(32)
    for who, unit in ((a, "unit-1"), (b, "unit-1"), (c, "unit-2")):
        cover.enrol("zhangjiakou", 2024, who, unit_id=unit)
    zjk_claim(session, zhangjiakou, cover, a, critical("恶性肿瘤"), pay=True)
    zjk_claim(session, zhangjiakou, cover, b, critical("恶性肿瘤", "80000"))
    zjk_claim(session, zhangjiakou, cover, c, critical("白血病"), approve_it=False)
    zjk_claim(
        session,
        zhangjiakou,
        cover,
        c,
        {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-02-01"},
        pay=True,
    )
    new_claim(
        session, zhangjiakou, cover, a, critical("红斑狼疮"), year=2024, today=DAY, submit=False
    )  # a draft

    stats = statistics.claim_statistics(session, city="zhangjiakou", year=2024, policy=zhangjiakou)

    assert stats["by_disease"] == [
        {
            "key": "恶性肿瘤",
            "label": "恶性肿瘤",
            "received": 2,
            "standing": 2,
            "granted": "20000.00",
            "paid": "12000.00",
        },
        {
            "key": "白血病",
            "label": "白血病",
            "received": 1,
            "standing": 0,
            "granted": "0.00",
            "paid": "0.00",
        },
        {
            "key": "（未填病种）",
            "label": "（未填病种）",
            "received": 1,
            "standing": 1,
            "granted": "450.00",
            "paid": "450.00",
        },
    ]
    assert [(x["key"], x["label"], x["received"], x["granted"]) for x in stats["by_benefit"]] == [
        ("critical_illness", "重大疾病医疗补助", 3, "20000.00"),
        ("general_illness", "一般疾病医疗补助", 1, "450.00"),
    ]
    assert stats["total"]["received"] == 4 and stats["total"]["paid"] == "12450.00"
    unit_2 = statistics.claim_statistics(
        session, city="zhangjiakou", year=2024, unit_ids=["unit-2"]
    )
    assert (
        unit_2["total"]["received"] == 2 and unit_2["by_benefit"][0]["label"] == "critical_illness"
    )


def test_paid_headcount_and_amount_against_premiums_per_unit_and_organisation(
    session, wujin, cover
):
    a, b, c = person(40), person(41), person(42)
    for who, unit in ((a, "unit-1"), (b, "unit-1"), (c, "unit-2")):
        cover.enrol("wujin", 2024, who, unit_id=unit, unit_name=f"{unit} 工会")
    na = {
        "出入院记录（未使用常州医保结算的住院）": "医保结算",
        "本次住院的结算票据（未使用常州医保结算的住院）": "医保结算",
    }

    def stay(who, self_borne):
        claim = new_claim(
            session,
            wujin,
            cover,
            who,
            {"benefit": "inpatient", "self_borne": self_borne, "admission_date": "2024-04-01"},
            year=2024,
            today=DAY,
            not_applicable=na,
        )
        approve(session, wujin, claim, DAY)
        event = {
            "v": 1,
            "event_id": str(uuid.uuid4()),
            "claim_id": claim.id,
            "payout_id": claim.id,
            "amount": f"{claim.payable:.2f}",
        }
        payouts.on_payout_succeeded(session, event=event, record=record(session))
        return claim

    stay(a, "6000")  # 1000
    fraud = stay(b, "3000")  # 500, then clawed back
    stay(c, "12000")  # 1500
    payouts.raise_clawback(
        session,
        wujin,
        claim_id=fraud.id,
        exclusion="fraud",
        actor="r",
        reason="骗保",
        record=record(session),
    )
    units = {
        "unit-1": UnitFigures(
            "一厂工会", members=50, premiums=Decimal("5000"), organisation="湖塘镇"
        ),
        "unit-2": UnitFigures(
            "二厂工会", members=30, premiums=Decimal("3000"), organisation="湖塘镇"
        ),
        "unit-3": UnitFigures(
            "三厂工会", members=10, premiums=Decimal("1000"), organisation="礼嘉镇"
        ),
    }

    rows = {r.unit_id: r for r in statistics.by_unit(session, city="wujin", year=2024, units=units)}

    assert (
        rows["unit-1"].claims,
        rows["unit-1"].paid_headcount,
        rows["unit-1"].paid,
        rows["unit-1"].rate,
    ) == (1, 1, Decimal("1000.00"), Decimal("0.2000"))
    assert (rows["unit-2"].paid, rows["unit-2"].rate) == (Decimal("1500.00"), Decimal("0.5000"))
    assert (rows["unit-3"].claims, rows["unit-3"].paid, rows["unit-3"].rate) == (
        0,
        Decimal("0"),
        Decimal("0.0000"),
    )
    assert rows["unit-1"].to_dict()["reimbursement_rate"] == "0.2000"
    towns = {o["organisation"]: o for o in statistics.by_organisation(rows.values())}
    assert towns["湖塘镇"] == {
        "organisation": "湖塘镇",
        "members": 80,
        "premiums": "8000.00",
        "claims": 2,
        "paid_headcount": 2,
        "paid": "2500.00",
        "reimbursement_rate": "0.3125",
    }
    unknown = statistics.by_unit(session, city="wujin", year=2024, units={})
    assert [(r.unit, r.premiums, r.rate) for r in unknown] == [
        ("unit-1 工会", None, None),
        ("unit-2 工会", None, None),
    ]


@pytest.fixture(scope="module")
def quzhou_2027(tmp_path_factory):
    """Quzhou's 2025 rules copied as 2027: candidates for 2027 come from 2025's records."""
    from services.kernel.registry import load_registry

    source = Path(load_registry().get("quzhou").data_dir)
    target = tmp_path_factory.mktemp("quzhou_2027")
    shutil.copy(source / "2025.yaml", target / "2025.yaml")
    text = (source / "2025.yaml").read_text(encoding="utf-8")
    text = (
        text.replace("year: 2025", "year: 2027")
        .replace("2025-", "2027-")
        .replace("2024-11-30", "2026-11-30")
    )
    (target / "2027.yaml").write_text(text, encoding="utf-8")
    return Quzhou(data_dir=target)


def test_settlements_feed_the_reimbursement_rate_and_the_preferential_candidates(
    session, quzhou_2027, cover
):
    units = {
        "unit-a": UnitFigures(
            "龙游某纸业有限公司工会",
            members=120,
            premiums=Decimal("6000"),
            district="龙游县",
            code="Q-A",
        ),
        "unit-b": UnitFigures(
            "衢州某厂工会", members=150, premiums=Decimal("7500"), district="市本级", code="Q-B"
        ),
        "unit-c": UnitFigures(
            "江山某店工会", members=99, premiums=Decimal("4950"), district="江山", code="Q-C"
        ),
    }
    people = {unit: person(200 + i) for i, unit in enumerate(units)}
    for unit, who in people.items():
        cover.enrol("quzhou", 2025, who, unit_id=unit, unit_name=units[unit].name)
    records = [
        {
            "settlement_no": "S-A1",
            "id_number": people["unit-a"].id_number,
            "admission_date": "2025-02-01",
            "settled_amount": "2999.99",
        },
        {
            "settlement_no": "S-B1",
            "id_number": people["unit-b"].id_number,
            "admission_date": "2025-02-01",
            "settled_amount": "3000.00",
        },
        {
            "settlement_no": "S-B2",
            "id_number": people["unit-b"].id_number,
            "admission_date": "2025-08-01",
            "settled_amount": "750.00",
        },
    ]
    imported = settlements.import_settlements(
        session,
        quzhou_2027,
        year=2025,
        actor="agency",
        cover=cover,
        record=record(session),
        records=records,
    )
    assert imported.importable

    stats = statistics.unit_year_stats(session, city="quzhou", year=2025, units=units)
    assert [(s.unit, s.claims, s.premiums) for s in stats] == [
        ("龙游某纸业有限公司工会", Decimal("2999.99"), Decimal("6000")),  # 49.99997%: below 50%
        ("衢州某厂工会", Decimal("3750.00"), Decimal("7500")),  # 50%: not below
        ("江山某店工会", Decimal("0"), Decimal("4950")),  # 99 members: too few
    ]
    rates = {
        r.unit_id: r.rate
        for r in statistics.by_unit(session, city="quzhou", year=2025, units=units)
    }
    assert rates == {
        "unit-a": Decimal("0.5000"),
        "unit-b": Decimal("0.5000"),
        "unit-c": Decimal("0.0000"),
    }

    chosen = quzhou_2027.preferential_candidates(2027, stats)

    assert [(c.unit, c.district, c.code) for c in chosen] == [
        ("龙游某纸业有限公司工会", "龙游", "Q-A")
    ]
    # the same through the hook, from the look-back year the city names (2027 → 2025)
    via_hook = statistics.preferential_candidates(session, quzhou_2027, year=2027, units=units)
    assert via_hook == chosen


def test_a_city_without_the_preferential_hook_has_no_candidates(session, zhangjiakou):
    units = {"unit-1": UnitFigures("某单位工会", members=500, premiums=Decimal("30000"))}
    assert statistics.preferential_candidates(session, zhangjiakou, year=2024, units=units) == []
