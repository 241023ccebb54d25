"""The schemas of the events claims handles: a malformed payout result is refused whole, naming
each bad field, before anything changes (services/claims/handled_events.py, payouts.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.claims import handled_events, payouts
from services.claims.models import PROCESSED_EVENTS, LedgerEntry
from services.messaging.errors import EventPayloadError
from tests.claims.flow import approve, events, new_claim, record
from tests.enrollment.samples import person

MEMBER = person(8)
DAY = date(2024, 6, 10)
GOOD = {
    "v": 1,
    "event_id": "e1",
    "claim_id": "c1",
    "payout_id": "P-1",
    "amount": "1000.00",
    "paid_on": "2024-06-20",
}


def test_a_good_payload_loads_with_a_decimal_amount_and_a_date():
    loaded = handled_events.payout_succeeded({**GOOD, "bank": "icbc"})  # a key added later
    assert loaded == {
        **GOOD,
        "amount": Decimal("1000.00"),
        "paid_on": date(2024, 6, 20),
    }
    assert (
        handled_events.payout_succeeded({k: v for k, v in GOOD.items() if k != "paid_on"})[
            "paid_on"
        ]
        is None
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": "1e3"}, "amount: 应为两位小数的金额文字（如 \"1000.00\"），现为 '1e3'"),
        ({"amount": "1000"}, "amount: 应为两位小数的金额文字"),
        ({"amount": 1000.0}, "amount: 应为两位小数的金额文字"),
        ({"amount": "-5.00"}, "amount: 应为两位小数的金额文字"),
        ({"amount": "0.00"}, "amount: 金额应大于 0"),
        ({"amount": "100000000.00"}, "amount: amount 不能超过 99999999.99"),
        ({"claim_id": None}, "claim_id: 不能为空（null）"),
        ({"claim_id": "c1\x00"}, "claim_id: 含有不可见的控制字符（U+0000）"),
        ({"v": 2}, "v: 版本 2 不认识（只认识 1）"),
        ({"paid_on": "20/06/2024"}, "paid_on: 应为日期（YYYY-MM-DD）"),
        ({"payout_id": "P" * 61}, "payout_id: 最多 60 个字符，填写了 61 个"),
    ],
)
def test_a_malformed_payout_succeeded_names_the_field(change, message):
    with pytest.raises(EventPayloadError) as refused:
        handled_events.payout_succeeded({**GOOD, **change})
    assert str(refused.value).startswith("payout_succeeded 有误: ")
    assert message in str(refused.value)


def test_missing_keys_are_all_named_at_once():
    with pytest.raises(EventPayloadError) as refused:
        handled_events.payout_failed({"v": 1, "event_id": "e2", "attempt": 0})
    assert str(refused.value) == (
        "payout_failed 有误: attempt: 应不小于 1; claim_id: 必填; payout_id: 必填; reason: 必填"
    )


def test_a_malformed_payout_changes_nothing(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    facts = {"benefit": "inpatient", "self_borne": "6000", "admission_date": "2024-04-01"}
    settled = {
        "出入院记录（未使用常州医保结算的住院）": "已使用常州医保结算",
        "本次住院的结算票据（未使用常州医保结算的住院）": "已使用常州医保结算",
    }
    claim = approve(
        session,
        wujin,
        new_claim(
            session, wujin, cover, MEMBER, facts, year=2024, today=DAY, not_applicable=settled
        ),
        DAY,
    )
    before = len(events(session))

    # "1e3" is 1000 to Decimal: today's amount, but not a form any bank file or payments sends
    with pytest.raises(EventPayloadError, match="amount"):
        payouts.on_payout_succeeded(
            session, event={**GOOD, "claim_id": claim.id, "amount": "1e3"}, record=record(session)
        )

    assert claim.status == "approved" and len(events(session)) == before
    assert session.scalar(select(func.count()).select_from(PROCESSED_EVENTS)) == 0
    kinds = session.scalars(select(LedgerEntry.kind).where(LedgerEntry.claim_id == claim.id)).all()
    assert kinds == ["payable"]
