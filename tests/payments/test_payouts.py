"""Payouts: one per (claim, attempt), state only forward with every change recorded, failure
reasons normalised beside the bank's own, never paid twice, and the ledger moving with them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.messaging.database import utc_now
from services.payments import events, failures, ledger, payouts
from services.payments.exceptions import PayoutError
from services.payments.models import Payout

ACCOUNT = "0412041229300124836"


def details(attempt=1, **changes):
    return {
        "claim_id": "claim-1",
        "city": "zhangjiakou",
        "year": 2024,
        "member_id": "m1",
        "name": "李四",
        "payee_card": "6222 0202 0011 2233 445",
        "amount": "1200.00",
        "attempt": attempt,
        **changes,
    }


def create(session, attempt=1, **changes):
    return payouts.create_payout(
        session, details=details(attempt, **changes), from_account=ACCOUNT, actor="claims"
    )


def submit(session):
    return payouts.take_batch(session, from_account=ACCOUNT, size=100, actor="batcher")


def result(session, payout, outcome, record, **kw):
    return payouts.apply_result(
        session, payout_id=payout.id, result=outcome, actor="bank", record=record, **kw
    )


def test_one_payout_per_claim_and_attempt(session):
    first = create(session)
    again = create(session)

    assert again.id == first.id and first.status == payouts.CREATED
    assert first.card_number == "6222020200112233445"
    assert session.scalar(select(func.count()).select_from(Payout)) == 1
    # the benefit is booked once: expense against what the member is owed
    assert ledger.balance(session, ledger.benefits("zhangjiakou", 2024).code) == Decimal("1200.00")


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"amount": "0.00"}, "无需支付"),
        ({"name": " "}, "姓名"),
        ({"payee_card": "6222-abc"}, "卡号"),
    ],
)
def test_a_payout_without_amount_name_or_card_is_refused(session, changes, words):
    with pytest.raises(PayoutError, match=words):
        create(session, **changes)


def test_state_moves_forward_and_every_change_is_recorded(session, record):
    payout = create(session)
    batch_id, batch = submit(session)
    moved = [
        result(session, payout, payouts.PROCESSING, record),
        result(session, payout, payouts.SUCCEEDED, record, bank_reference="B1", amount="1200.00"),
        # late answers: behind the payout's state, they change nothing
        result(session, payout, payouts.PROCESSING, record),
        result(session, payout, payouts.SUCCEEDED, record),
    ]

    assert batch == [payout] and payout.batch_id == batch_id
    assert moved == [True, True, False, False] and payout.status == payouts.SUCCEEDED
    assert [(h["from"], h["to"], h["actor"]) for h in payouts.history(session, payout.id)] == [
        (None, "created", "claims"),
        ("created", "submitted", "batcher"),
        ("submitted", "processing", "bank"),
        ("processing", "succeeded", "bank"),
    ]
    (paid,) = record.of(events.PAYOUT_SUCCEEDED)
    assert paid == {
        "v": 1,
        "claim_id": "claim-1",
        "payout_id": payout.id,
        "attempt": 1,
        "amount": "1200.00",
        "paid_on": paid["paid_on"],
    }
    assert ledger.balance(session, ledger.fund("zhangjiakou", ACCOUNT).code) == Decimal("-1200.00")
    assert ledger.balance(
        session, ledger.payable("zhangjiakou", 2024, "claim-1", "m1").code
    ) == Decimal("0.00")


def test_a_result_contradicting_a_final_state_is_refused(session, record):
    payout = create(session)
    submit(session)
    result(session, payout, payouts.FAILED, record, failure_message="户名不符")

    with pytest.raises(PayoutError, match="支付失败不能变为已支付"):
        result(session, payout, payouts.SUCCEEDED, record)
    with pytest.raises(PayoutError, match="待提交银行不能变为已支付"):
        result(session, create(session, claim_id="claim-2"), payouts.SUCCEEDED, record)


def test_an_amount_other_than_the_payouts_is_refused(session, record):
    payout = create(session)
    submit(session)
    with pytest.raises(PayoutError, match="不符"):
        result(session, payout, payouts.SUCCEEDED, record, amount="1000.00")
    assert payout.status == payouts.SUBMITTED


@pytest.mark.parametrize(
    "code, message, reason, retryable",
    [
        ("3011", "账户久悬，请至柜面办理", "frozen_or_dormant", False),
        ("LIMIT", "超过当日收款限额", "receive_limit", True),
        ("9999", "系统繁忙", "unknown", False),
    ],
)
def test_failure_reasons_are_normalised_beside_the_banks_raw_code(
    session, record, code, message, reason, retryable
):
    """Two examples through a payout; every reason's words are in test_failures.py."""
    payout = create(session)
    submit(session)
    result(session, payout, payouts.FAILED, record, failure_code=code, failure_message=message)

    assert payout.failure_reason == reason and payout.retryable is retryable
    assert (payout.failure_code, payout.failure_message) == (code, message)
    (failed,) = record.of(events.PAYOUT_FAILED)
    assert failed["failure_reason"] == reason and failed["retryable"] is retryable
    assert failed["reason"].startswith(failures.FAILURE_REASONS[reason].label)


def test_a_dormant_card_fails_and_the_retry_after_the_fix_pays_once(session, record):
    first = create(session)
    submit(session)
    result(session, first, payouts.FAILED, record, failure_code="3011", failure_message="久悬账户")
    shown = payouts.to_dict(first)

    second = create(session, attempt=2)  # claims' retry_payout after the card was fixed
    submit(session)
    result(session, second, payouts.SUCCEEDED, record)
    result(session, second, payouts.SUCCEEDED, record)

    assert shown["failure_label"] == "账户冻结或久悬" and "久悬" in shown["advice"]
    assert shown["card"] == "6222***********3445"
    assert [p["attempt"] for p in record.of(events.PAYOUT_SUCCEEDED)] == [2]
    assert ledger.balance(session, ledger.fund("zhangjiakou", ACCOUNT).code) == Decimal("-1200.00")
    assert ledger.balance(session, ledger.benefits("zhangjiakou", 2024).code) == Decimal("1200.00")


def test_never_paid_twice(session, record):
    first = create(session)
    with pytest.raises(PayoutError, match="尚无结果"):
        create(session, attempt=2)  # the first is still on its way: query, do not resend
    submit(session)
    result(session, first, payouts.SUCCEEDED, record)
    with pytest.raises(PayoutError, match="已由第 1 次支付付讫"):
        create(session, attempt=2)


def test_a_returned_payout_puts_the_money_back(session, record):
    payout = create(session)
    submit(session)
    result(session, payout, payouts.SUCCEEDED, record)
    result(session, payout, payouts.RETURNED, record, failure_message="账户已销户")

    assert payout.status == payouts.RETURNED and payout.failure_reason == "account_closed"
    assert ledger.balance(session, ledger.fund("zhangjiakou", ACCOUNT).code) == Decimal("0.00")
    assert len(record.of(events.PAYOUT_RETURNED)) == 1
    assert create(session, attempt=2).status == payouts.CREATED  # may be paid again


def test_payouts_without_an_answer_are_due_for_a_query(session, record):
    answered, silent = create(session), create(session, claim_id="claim-2")
    submit(session)
    result(session, answered, payouts.SUCCEEDED, record)
    later = utc_now() + timedelta(minutes=31)

    assert payouts.due_for_query(session, now=utc_now(), after=timedelta(minutes=30)) == []
    due = payouts.due_for_query(session, now=later, after=timedelta(minutes=30))
    assert due == [silent]
    payouts.mark_queried(session, silent, later)
    assert payouts.due_for_query(session, now=later, after=timedelta(minutes=30)) == []


def test_benefits_are_paid_from_the_account_premiums_are_routed_to(registry, zhangjiakou, quzhou):
    assert payouts.paying_account(zhangjiakou, 2024) == zhangjiakou.account(2024, None).number
    assert payouts.paying_account(quzhou, 2025, "柯城区") == quzhou.account(2025, "柯城区").number
    with pytest.raises(PayoutError, match="没有收款账户"):
        payouts.paying_account(registry.get("keqiao"), 2019)  # the notice names no account
