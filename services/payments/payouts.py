"""Payouts: approved claims paid to the members' union cards (工会会员服务卡).

One payout per (claim_id, attempt) — the attempt claims' ``claim_approved`` carries, 1, then
2, 3 … after each retry — so the same approval handled twice creates one payout. A new
attempt is refused while an earlier one is paid or still on its way: never paid twice.

State only moves forward (``_TRANSITIONS``): created → submitted → processing → succeeded |
failed | returned. A bank may skip "processing", and may return (退票) a payout it reported
paid. A result that is behind the payout's state (a late "processing", the same result again)
changes nothing; a result contradicting a final state (success after failure) is refused for
a person to look at. Every change is a row in ``payout_transitions`` with who, when and why.

Failures carry a normalised reason beside the bank's raw code and text (``normalise``);
name mismatch, closed account, not found, a frozen or dormant (久悬) or unactivated (未激活)
card and wrong bank details are not retried by the machine: the member is told what to do
and a clerk fixes the card, then claims' ``retry_payout`` makes the next attempt. A payout
with no answer is queried (``due_for_query``) before anything is sent again.

The ledger: creating the first payout of a claim books the benefit (benefits / payable);
success pays it out of the fund (payable / fund); a return puts it back (fund / payable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.clock import SHANGHAI
from services.kernel.money import format_money, parse_money
from services.kernel.policy import CityPolicy
from services.kernel.privacy import mask_card
from services.messaging.database import utc_now
from services.payments import events, ledger
from services.payments.exceptions import NotFound, PayoutError
from services.payments.failures import FAILURE_REASONS, FailureReason, normalise
from services.payments.models import Payout, PayoutTransition, new_id

Record = Callable[[str, dict[str, Any]], str]

CREATED, SUBMITTED, PROCESSING = "created", "submitted", "processing"
SUCCEEDED, FAILED, RETURNED = "succeeded", "failed", "returned"
FINAL = (SUCCEEDED, FAILED, RETURNED)
RESULTS = (PROCESSING, SUCCEEDED, FAILED, RETURNED)  # what a bank may report
IN_FLIGHT = (CREATED, SUBMITTED, PROCESSING)
_TRANSITIONS = {
    CREATED: (SUBMITTED,),
    SUBMITTED: (PROCESSING, SUCCEEDED, FAILED, RETURNED),
    PROCESSING: (SUCCEEDED, FAILED, RETURNED),
    SUCCEEDED: (RETURNED,),
    FAILED: (),
    RETURNED: (),
}
_ORDER = {CREATED: 0, SUBMITTED: 1, PROCESSING: 2, SUCCEEDED: 3, FAILED: 3, RETURNED: 4}
STATUS_LABELS = {
    CREATED: "待提交银行",
    SUBMITTED: "已提交银行",
    PROCESSING: "银行处理中",
    SUCCEEDED: "已支付",
    FAILED: "支付失败",
    RETURNED: "已退票",
}
RESULT_OF_EVENT = {
    "payout.succeeded": SUCCEEDED,
    "payout.failed": FAILED,
    "payout.returned": RETURNED,
}


# ---- creating --------------------------------------------------------------------------------


def paying_account(policy: CityPolicy, year: int, district: str | None = None) -> str:
    """The fund account a city-year's benefits are paid from: the one premiums are routed to
    (Quzhou: the block of the member's unit, so ``district`` is needed there)."""
    account = policy.account(year, district)
    if account is None:
        raise PayoutError(f"{policy.name} {year} 年没有收款账户，无法确定从哪个账户支付补助")
    return account.number


def find_payout(session: Session, claim_id: str, attempt: int) -> Payout | None:
    """The payout of a claim's attempt, if made: there is one per (claim_id, attempt)."""
    return session.scalar(
        select(Payout).where(Payout.claim_id == claim_id, Payout.attempt == attempt)
    )


def create_payout(
    session: Session,
    *,
    details: Mapping[str, Any],
    from_account: str,
    actor: str,
) -> Payout:
    """The payout of an approved claim from claims' ``payout_details`` ({claim_id, city, year,
    member_id, name, payee_card, amount, attempt}); the existing one for the same attempt."""
    claim_id, attempt = str(details["claim_id"]), int(details["attempt"])
    existing = find_payout(session, claim_id, attempt)
    if existing is not None:
        return existing
    amount = parse_money(details["amount"], name="amount")
    if amount <= 0:
        raise PayoutError(f"申请 {claim_id} 核定金额为 {format_money(amount)} 元，无需支付")
    name = (details.get("name") or "").strip()
    card = re.sub(r"\s", "", details.get("payee_card") or "")
    if not name:
        raise PayoutError(f"申请 {claim_id} 没有会员姓名，银行按户名核对，不能支付")
    if not re.fullmatch(r"\d{12,20}", card):
        raise PayoutError(f"申请 {claim_id} 的工会卡号应为 12 到 20 位数字，请经办人更正")
    others = session.scalars(
        select(Payout).where(Payout.claim_id == claim_id).with_for_update()
    ).all()
    for other in others:
        if other.status == SUCCEEDED:
            raise PayoutError(f"申请 {claim_id} 已由第 {other.attempt} 次支付付讫，不再支付")
        if other.status in IN_FLIGHT:
            raise PayoutError(
                f"申请 {claim_id} 的第 {other.attempt} 次支付尚无结果（{STATUS_LABELS[other.status]}），"
                "须先查询银行，不能再次支付"
            )
    payout = Payout(
        id=new_id(),
        claim_id=claim_id,
        attempt=attempt,
        city=str(details["city"]),
        year=int(details["year"]),
        member_id=details.get("member_id"),
        name=name,
        card_number=card,
        amount=amount,
        from_account=from_account,
        status=CREATED,
        created_by=actor,
        created_at=utc_now(),
    )
    session.add(payout)
    session.flush()
    _transition(
        session, payout, CREATED, actor, f"第 {attempt} 次支付，{format_money(amount)} 元", new=True
    )
    ledger.post(
        session,
        key=f"claim:{claim_id}:payable",  # the benefit is booked once, whatever the attempts
        kind="benefit_approved",
        city=payout.city,
        memo=f"申请 {claim_id} 核定补助 {format_money(amount)} 元",
        actor=actor,
        lines=[
            (ledger.benefits(payout.city, payout.year), amount),
            (ledger.payable(payout.city, payout.year, claim_id, payout.member_id), -amount),
        ],
    )
    return payout


# ---- moving ----------------------------------------------------------------------------------


def _transition(
    session: Session,
    payout: Payout,
    to_status: str,
    actor: str,
    reason: str | None,
    *,
    new: bool = False,
) -> None:
    if not new and to_status not in _TRANSITIONS[payout.status]:
        raise PayoutError(
            f"支付 {payout.id}：{STATUS_LABELS[payout.status]}不能变为{STATUS_LABELS[to_status]}"
        )
    session.add(
        PayoutTransition(
            id=new_id(),
            payout_id=payout.id,
            from_status=None if new else payout.status,
            to_status=to_status,
            actor=actor,
            reason=reason,
            at=utc_now(),
        )
    )
    payout.status = to_status


def take_batch(
    session: Session, *, from_account: str, size: int, actor: str
) -> tuple[str, list[Payout]]:
    """Up to ``size`` created payouts from one fund account, marked submitted under one new
    batch id: what the bank adapter sends. Rows another worker holds are skipped."""
    batch_id = new_id()
    rows = session.scalars(
        select(Payout)
        .where(Payout.status == CREATED, Payout.from_account == from_account)
        .order_by(Payout.created_at, Payout.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    ).all()
    now = utc_now()
    for payout in rows:
        _transition(session, payout, SUBMITTED, actor, f"批次 {batch_id}")
        payout.batch_id, payout.submitted_at = batch_id, now
    session.flush()
    return batch_id, list(rows)


def instruction(payout: Payout) -> dict[str, Any]:
    """One line of a batch as the bank adapter sends it (full card number: the bank needs it)."""
    return {
        "payout_id": payout.id,
        "name": payout.name,
        "card_number": payout.card_number,
        "amount": format_money(payout.amount),
        "from_account": payout.from_account,
        "remark": f"职工医疗互助补助 {payout.claim_id[:8]}",
    }


def apply_result(
    session: Session,
    *,
    payout_id: str,
    result: str,
    actor: str,
    record: Record,
    bank_reference: str | None = None,
    failure_code: str | None = None,
    failure_message: str | None = None,
    amount: str | None = None,
    paid_on: date | None = None,
) -> bool:
    """A result from a callback or a query: processing, succeeded, failed or returned. True if
    it moved the payout; False if the payout is there already or further on. PayoutError if
    it contradicts a final state or the amount differs (a person must look). ``paid_on`` is
    the bank's date of the payment, else the service clock's today; without either, today in
    Asia/Shanghai (never the host's UTC date: at 23:30 UTC it is tomorrow in Shanghai)."""
    payout = get_payout(session, payout_id, lock=True)
    if payout.status == result or (_ORDER[result] < _ORDER[payout.status] and result != RETURNED):
        return False  # the same answer twice, or a late one overtaken by a later answer
    if amount is not None and parse_money(amount, name="amount") != payout.amount:
        raise PayoutError(
            f"支付 {payout_id}：银行金额 {amount} 与应付 {format_money(payout.amount)} 元不符"
        )
    now = utc_now()
    if result == SUCCEEDED:
        _transition(session, payout, SUCCEEDED, actor, f"银行已付讫 {bank_reference or ''}".strip())
        payout.bank_reference, payout.finished_at = bank_reference or payout.bank_reference, now
        _post_paid(session, payout, actor)
        record(
            events.PAYOUT_SUCCEEDED,
            events.payout_payload(
                payout,
                amount=format_money(payout.amount),
                paid_on=(paid_on or now.astimezone(SHANGHAI).date()).isoformat(),
            ),
        )
    elif result == FAILED:
        reason = normalise(failure_code, failure_message)
        _transition(
            session,
            payout,
            FAILED,
            actor,
            f"{reason.label}（{failure_code or ''} {failure_message or ''}）",
        )
        payout.failure_reason, payout.retryable, payout.finished_at = (
            reason.code,
            reason.retryable,
            now,
        )
        payout.failure_code = (failure_code or "")[:60] or None
        payout.failure_message = failure_message
        record(events.PAYOUT_FAILED, _failed_payload(payout, reason))
    elif result == RETURNED:
        was_paid = payout.status == SUCCEEDED
        reason = normalise(failure_code, failure_message)
        _transition(
            session,
            payout,
            RETURNED,
            actor,
            f"退票：{reason.label}（{failure_code or ''} {failure_message or ''}）",
        )
        payout.failure_reason, payout.retryable, payout.finished_at = (
            reason.code,
            reason.retryable,
            now,
        )
        payout.failure_code = (failure_code or "")[:60] or None
        payout.failure_message = failure_message
        if was_paid:
            ledger.post(
                session,
                key=f"payout:{payout.id}:returned",
                kind="payout_returned",
                city=payout.city,
                memo=f"支付 {payout.id} 退票，{format_money(payout.amount)} 元退回",
                actor=actor,
                lines=[
                    (ledger.fund(payout.city, payout.from_account), payout.amount),
                    (
                        ledger.payable(payout.city, payout.year, payout.claim_id, payout.member_id),
                        -payout.amount,
                    ),
                ],
            )
            record(
                events.PAYOUT_RETURNED,
                events.payout_payload(payout, amount=format_money(payout.amount)),
            )
        else:  # returned before it was reported paid: to claims, a failure like any other
            record(events.PAYOUT_FAILED, _failed_payload(payout, reason))
    else:
        _transition(session, payout, result, actor, "银行处理中")
    session.flush()
    return True


def _failed_payload(payout: Payout, reason: FailureReason) -> dict[str, Any]:
    return events.payout_payload(
        payout,
        reason=f"{reason.label}：{reason.advice}",
        failure_reason=reason.code,
        retryable=reason.retryable,
    )


def _post_paid(session: Session, payout: Payout, actor: str) -> None:
    ledger.post(
        session,
        key=f"payout:{payout.id}:paid",
        kind="payout_paid",
        city=payout.city,
        memo=f"支付 {payout.id} 付讫 {format_money(payout.amount)} 元",
        actor=actor,
        lines=[
            (
                ledger.payable(payout.city, payout.year, payout.claim_id, payout.member_id),
                payout.amount,
            ),
            (ledger.fund(payout.city, payout.from_account), -payout.amount),
        ],
    )


def due_for_query(
    session: Session, *, now: datetime, after: timedelta, limit: int = 500
) -> list[Payout]:
    """Payouts sent at least ``after`` ago with no final answer and not queried since: the
    active query asks the bank about these, so a lost callback never leaves money in limbo."""
    cutoff = now - after
    rows = session.scalars(
        select(Payout)
        .where(
            Payout.status.in_((SUBMITTED, PROCESSING)),
            Payout.submitted_at <= cutoff,
            (Payout.last_queried_at.is_(None)) | (Payout.last_queried_at <= cutoff),
        )
        .order_by(Payout.submitted_at)
        .limit(limit)
    ).all()
    return list(rows)


def mark_queried(session: Session, payout: Payout, now: datetime) -> None:
    payout.last_queried_at = now
    session.flush()


# ---- reading ---------------------------------------------------------------------------------


def get_payout(session: Session, payout_id: str, *, lock: bool = False) -> Payout:
    query = select(Payout).where(Payout.id == payout_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    payout = session.scalar(query)
    if payout is None:
        raise NotFound(f"没有支付 {payout_id}")
    return payout


def history(session: Session, payout_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(PayoutTransition)
        .where(PayoutTransition.payout_id == payout_id)
        .order_by(PayoutTransition.at, PayoutTransition.id)
    )
    return [
        {
            "from": t.from_status,
            "to": t.to_status,
            "actor": t.actor,
            "reason": t.reason,
            "at": t.at.isoformat(),
        }
        for t in rows
    ]


def to_dict(payout: Payout) -> dict[str, Any]:
    reason = FAILURE_REASONS.get(payout.failure_reason or "")
    return {
        "payout_id": payout.id,
        "claim_id": payout.claim_id,
        "attempt": payout.attempt,
        "city": payout.city,
        "name": payout.name,
        "card": mask_card(payout.card_number),
        "amount": format_money(payout.amount),
        "status": payout.status,
        "status_label": STATUS_LABELS[payout.status],
        "failure_reason": payout.failure_reason,
        "failure_label": reason.label if reason else None,
        "advice": reason.advice if reason else None,
        "retryable": payout.retryable,
        "bank_code": payout.failure_code,
        "bank_message": payout.failure_message,
    }
