"""Payments' results (idempotent), a failed payout retried, and a paid claim clawed back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select

from services.claims import accumulators, payouts
from services.claims import claims as ops
from services.claims.exceptions import ClawbackRefused, WorkflowError
from services.claims.models import ClaimTransition, LedgerEntry
from services.claims.service import ClaimsService
from tests.claims.flow import approve, events, new_claim, record
from tests.enrollment.samples import person

MEMBER = person(7)
DAY = date(2024, 6, 10)
SETTLED = {
    "出入院记录（未使用常州医保结算的住院）": "已使用常州医保结算",
    "本次住院的结算票据（未使用常州医保结算的住院）": "已使用常州医保结算",
}


def wujin_stay(session, wujin, cover, self_borne="6000", admitted="2024-04-01"):
    facts = {"benefit": "inpatient", "self_borne": self_borne, "admission_date": admitted}
    claim = new_claim(
        session, wujin, cover, MEMBER, facts, year=2024, today=DAY, not_applicable=SETTLED
    )
    return approve(session, wujin, claim, DAY)


def succeeded(claim, event_id="evt-1", payout_id="P-1", amount=None):
    return {
        "v": 1,
        "event_id": event_id,
        "claim_id": claim.id,
        "payout_id": payout_id,
        "amount": amount or f"{claim.payable:.2f}",
        "paid_on": "2024-06-20",
    }


def counts(session, claim):
    ledger = session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.claim_id == claim.id)
    )
    steps = session.scalar(
        select(func.count())
        .select_from(ClaimTransition)
        .where(ClaimTransition.claim_id == claim.id)
    )
    return ledger, steps, len(events(session))


def test_payout_succeeded_twice_changes_nothing_the_second_time(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    rec = record(session)

    assert payouts.on_payout_succeeded(session, event=succeeded(claim), record=rec) is claim
    assert (claim.status, claim.payout_id, claim.paid_on) == ("paid", "P-1", date(2024, 6, 20))
    assert events(session)[-1] == (
        "claim_paid",
        {
            "v": 1,
            "claim_id": claim.id,
            "city": "wujin",
            "year": 2024,
            "benefit": "inpatient",
            "unit_id": "unit-1",
            "amount": "1000.00",
            "payout_id": "P-1",
        },
    )
    before = counts(session, claim)
    assert payouts.on_payout_succeeded(session, event=succeeded(claim), record=rec) is None
    assert counts(session, claim) == before
    # the bank's callback again under another event id: the same payout, nothing new either
    assert (
        payouts.on_payout_succeeded(session, event=succeeded(claim, event_id="evt-2"), record=rec)
        is None
    )
    assert counts(session, claim) == before
    paid = session.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "paid")).all()
    assert paid == [Decimal("1000.00")]


def test_a_payout_of_another_amount_is_refused(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    with pytest.raises(WorkflowError, match="支付结果金额 999.00 与核定金额 1000.00 不一致"):
        payouts.on_payout_succeeded(
            session, event=succeeded(claim, amount="999.00"), record=record(session)
        )


def test_a_failed_payout_is_retried_and_then_paid(session, zhangjiakou, cover):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    facts = {"benefit": "general_illness", "total_cost": "8000", "admission_date": "2024-03-01"}
    claim = approve(
        session,
        zhangjiakou,
        new_claim(session, zhangjiakou, cover, MEMBER, facts, year=2024, today=DAY),
        DAY,
    )
    rec = record(session)
    failed = {
        "v": 1,
        "event_id": "evt-f1",
        "claim_id": claim.id,
        "payout_id": "P-1",
        "attempt": 1,
        "reason": "工会卡久悬，请到张家口银行网点激活",
    }

    payouts.on_payout_failed(session, event=failed, record=rec)
    assert claim.status == "payment_failed"
    assert (
        payouts.on_payout_failed(session, event=failed, record=rec) is None
    )  # the same event again
    payouts.retry_payout(
        session, claim_id=claim.id, actor="clerk:zhao", reason="已激活工会卡", record=rec
    )
    assert (claim.status, claim.payout_attempt) == ("approved", 2)
    assert events(session)[-1][0] == "claim_approved" and events(session)[-1][1]["attempt"] == 2
    late = {**failed, "event_id": "evt-f-late"}  # attempt 1's failure, delivered again late
    assert (
        payouts.on_payout_failed(session, event=late, record=rec) is None
        and claim.status == "approved"
    )
    payouts.on_payout_succeeded(
        session, event=succeeded(claim, event_id="evt-s", payout_id="P-2"), record=rec
    )

    assert claim.status == "paid"
    steps = [(h["from"], h["to"], h["actor"]) for h in ops.history(session, claim_id=claim.id)][-3:]
    assert steps == [
        ("approved", "payment_failed", "payments"),
        ("payment_failed", "approved", "clerk:zhao"),
        ("approved", "paid", "payments"),
    ]
    assert "工会卡久悬" in ops.history(session, claim_id=claim.id)[-3]["reason"]


def test_a_paid_benefit_found_excluded_is_clawed_back_by_a_negative_entry(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    payouts.on_payout_succeeded(session, event=succeeded(claim), record=record(session))

    entry = payouts.raise_clawback(
        session,
        wujin,
        claim_id=claim.id,
        exclusion="fraud",
        actor="reviewer:li",
        reason="伪造出院记录",
        record=record(session),
    )

    assert (entry.kind, entry.amount, entry.counted) == (
        "clawback",
        Decimal("-1000.00"),
        Decimal("-6000.00"),
    )
    ledger = session.scalars(
        select(LedgerEntry.kind).where(LedgerEntry.claim_id == claim.id).order_by(LedgerEntry.at)
    ).all()
    assert ledger == ["payable", "paid", "clawback"]  # nothing written before is changed
    assert (claim.status, claim.payable) == ("clawed_back", Decimal("1000.00"))
    assert accumulators.member_totals(
        session, city="wujin", year=2024, id_number=MEMBER.id_number
    ) == {"inpatient": {"payable": "0.00", "counted": "0.00", "claims": 0}}
    assert events(session)[-1] == (
        "clawback_raised",
        {
            "v": 1,
            "claim_id": claim.id,
            "clawback_id": entry.id,
            "city": "wujin",
            "year": 2024,
            "benefit": "inpatient",
            "unit_id": "unit-1",
            "amount": "1000.00",
        },
    )
    assert "欺诈" in ops.history(session, claim_id=claim.id)[-1]["reason"]
    # the clawed-back stay no longer counts: a later stay of 6000 is banded on its own
    assert wujin_stay(session, wujin, cover, admitted="2024-05-01").payable == Decimal("1000.00")


def test_a_clawback_needs_a_paid_claim_and_an_exclusion_the_city_recovers(
    session, wujin, zhangjiakou, cover
):
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    with pytest.raises(WorkflowError, match="不能追回"):
        payouts.raise_clawback(
            session,
            wujin,
            claim_id=claim.id,
            exclusion="fraud",
            actor="r",
            reason="x",
            record=record(session),
        )
    payouts.on_payout_succeeded(session, event=succeeded(claim), record=record(session))
    with pytest.raises(ClawbackRefused, match="没有除外责任 'gambling'"):
        payouts.raise_clawback(
            session,
            wujin,
            claim_id=claim.id,
            exclusion="gambling",
            actor="r",
            reason="x",
            record=record(session),
        )
    with pytest.raises(ClawbackRefused, match="不适用于这项补助"):
        payouts.raise_clawback(
            session,
            wujin,
            claim_id=claim.id,
            exclusion="misdiagnosis",
            actor="r",
            reason="x",
            record=record(session),
        )

    cover.enrol("zhangjiakou", 2024, MEMBER)
    facts = {"benefit": "general_illness", "total_cost": "8000", "admission_date": "2024-03-01"}
    zjk = approve(
        session,
        zhangjiakou,
        new_claim(session, zhangjiakou, cover, MEMBER, facts, year=2024, today=DAY),
        DAY,
    )
    payouts.on_payout_succeeded(
        session, event=succeeded(zjk, event_id="evt-z"), record=record(session)
    )
    with pytest.raises(ClawbackRefused, match="「打架斗殴发生的医疗费用」未规定追回"):
        payouts.raise_clawback(
            session,
            zhangjiakou,
            claim_id=zjk.id,
            exclusion="fight",
            actor="r",
            reason="x",
            record=record(session),
        )
    assert (claim.status, zjk.status) == ("paid", "paid")


def test_payments_asks_for_what_it_pays(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    details = payouts.payout_details(session, claim_id=claim.id)
    assert (details["amount"], details["id_number"], details["attempt"]) == (
        "1000.00",
        MEMBER.id_number,
        1,
    )
    assert details["pay_due"] == "2024-06-24"  # monthly: 10 working days after the approval


def test_a_returned_payout_is_reversed_and_the_claim_waits_for_a_retry(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    rec = record(session)
    payouts.on_payout_succeeded(session, event=succeeded(claim), record=rec)
    returned = {
        "v": 1,
        "event_id": "evt-r1",
        "claim_id": claim.id,
        "payout_id": "P-1",
        "amount": f"{claim.payable:.2f}",
        "attempt": 1,
    }

    payouts.on_payout_returned(session, event=returned, record=rec)

    assert claim.status == "payment_failed"
    paid = session.scalar(
        select(func.sum(LedgerEntry.amount)).where(
            LedgerEntry.claim_id == claim.id, LedgerEntry.kind == "paid"
        )
    )
    assert paid == Decimal("0")
    assert "退票" in ops.history(session, claim_id=claim.id)[-1]["reason"]
    before = counts(session, claim)
    assert payouts.on_payout_returned(session, event=returned, record=rec) is None  # again
    other = {**returned, "event_id": "evt-r2", "payout_id": "P-OTHER"}
    assert payouts.on_payout_returned(session, event=other, record=rec) is None
    assert counts(session, claim)[:2] == before[:2]
    payouts.retry_payout(session, claim_id=claim.id, actor="clerk", record=rec)
    assert (claim.status, claim.payout_attempt) == ("approved", 2)


def test_a_payout_without_the_banks_date_is_paid_on_the_services_day(session, wujin, cover):
    """No `paid_on` from the bank: the claim is paid on the service's today (its clock, in
    Asia/Shanghai), not on the host's UTC date."""
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    event = {**succeeded(claim), "paid_on": None}
    paid = payouts.on_payout_succeeded(
        session, event=event, record=record(session), today=date(2024, 6, 21)
    )
    assert paid is claim and claim.paid_on == date(2024, 6, 21)


def test_payout_details_carry_the_units_district_asked_of_enrollment(
    session, registry, wujin, cover
):
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    claim.district = None  # a claim made before claims kept the unit's district
    worker = worker_factory(ClaimsService, policies=registry)
    worker.db.session = session
    worker.enrollment.unit_contact.return_value = {"unit_id": claim.unit_id, "district": "柯城区"}

    details = worker.payout_details(claim.id)

    assert details["district"] == "柯城区" and details["unit_id"] == claim.unit_id
    worker.enrollment.unit_contact.assert_called_once_with(claim.unit_id)


def test_payout_details_carry_the_claims_own_district(session, registry, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    claim = wujin_stay(session, wujin, cover)
    claim.district = "柯城区"
    worker = worker_factory(ClaimsService, policies=registry)
    worker.db.session = session

    assert worker.payout_details(claim.id)["district"] == "柯城区"
    worker.enrollment.unit_contact.assert_not_called()
