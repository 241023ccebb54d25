"""After approval: payments' results, retrying a failed payout, and clawing back a paid benefit.

The payout handlers first load the event with its schema (handled_events.py): a malformed one
is refused whole (EventPayloadError) before anything changes. They are idempotent (DESIGN.md
"Messaging"): each then calls
``first_time(session, <consumer>, event_id)`` in the transaction that makes its change, so the
same event delivered twice changes nothing the second time. A clawback never edits what was
paid: it is a negative ledger entry, the member-year's totals are reduced under its lock (the
claim no longer counts towards caps or bands) and the claim's state records who raised it, on
which exclusion and why (Wujin 六: 已发放的补助，予以追回).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.claims import accumulators, events, handled_events, rules
from services.claims.claims import Record, get_claim, payload, transition
from services.claims.exceptions import ClawbackRefused, WorkflowError
from services.claims.models import ZERO, Claim, LedgerEntry
from services.kernel.clock import SYSTEM
from services.kernel.facts import load_claim
from services.kernel.money import format_money
from services.kernel.policy import CityPolicy
from services.messaging.database import utc_now
from services.messaging.idempotency import first_time

PAYMENTS = "payments"  # the actor of transitions made by payments' events


def on_payout_succeeded(
    session: Session, *, event: Mapping[str, Any], record: Record, today: date | None = None
) -> Claim | None:
    """payout_succeeded {claim_id, payout_id, amount, paid_on?}: the claim is paid. None if
    this event was handled before, or the same payout was already recorded. Without the
    bank's ``paid_on`` the claim is paid on ``today`` (the service's clock; the real day in
    Asia/Shanghai when not given), never the host's UTC date."""
    event = handled_events.payout_succeeded(event)
    if not first_time(session, events.ON_PAYOUT_SUCCEEDED, event["event_id"]):
        return None
    claim = get_claim(session, event["claim_id"], lock=True)
    payout_id = event["payout_id"]
    if claim.status == rules.PAID and claim.payout_id == payout_id:
        return None  # the bank's callback twice, under two event ids
    to_status = rules.next_status(claim.status, "pay")
    amount = event["amount"]
    if amount != claim.payable:
        raise WorkflowError(
            f"支付结果金额 {format_money(amount)} 与核定金额 {format_money(claim.payable)} 不一致（{payout_id}）"
        )
    paid_on = event["paid_on"] or today or SYSTEM.today()
    claim.payout_id, claim.paid_on = payout_id, paid_on
    session.add(
        LedgerEntry(
            claim_id=claim.id,
            city=claim.city,
            year=claim.year,
            id_number=claim.id_number,
            unit_id=claim.unit_id,
            benefit=claim.benefit,
            kind="paid",
            amount=amount,
            reference=payout_id,
            actor=PAYMENTS,
            at=utc_now(),
        )
    )
    transition(
        session, claim, to_status, PAYMENTS, f"已支付 {format_money(amount)} 元（{payout_id}）"
    )
    record(events.CLAIM_PAID, payload(claim, amount=format_money(amount), payout_id=payout_id))
    return claim


def on_payout_failed(session: Session, *, event: Mapping[str, Any], record: Record) -> Claim | None:
    """payout_failed {claim_id, payout_id, reason, attempt?}: the claim waits for a retry.
    None if handled before, or the failure is of an attempt already superseded."""
    event = handled_events.payout_failed(event)
    if not first_time(session, events.ON_PAYOUT_FAILED, event["event_id"]):
        return None
    claim = get_claim(session, event["claim_id"], lock=True)
    attempt = event["attempt"]
    if attempt is not None and attempt != claim.payout_attempt:
        return None  # a late answer about an earlier attempt
    if claim.status == rules.PAYMENT_FAILED:
        return None
    to_status = rules.next_status(claim.status, "fail")
    transition(
        session,
        claim,
        to_status,
        PAYMENTS,
        f"支付失败: {event['reason']}（{event['payout_id']}）",
    )
    return claim


def on_payout_returned(
    session: Session, *, event: Mapping[str, Any], record: Record
) -> Claim | None:
    """payout_returned {claim_id, payout_id, amount}: the money came back (退票). The paid
    amount is reversed in the ledger (a negative entry, nothing edited) and the claim waits
    for a retry, as after a failure. None if handled before, or the payout is not the one
    recorded as paying the claim."""
    event = handled_events.payout_returned(event)
    if not first_time(session, events.ON_PAYOUT_RETURNED, event["event_id"]):
        return None
    claim = get_claim(session, event["claim_id"], lock=True)
    payout_id = event["payout_id"]
    if claim.status != rules.PAID or claim.payout_id != payout_id:
        return None
    to_status = rules.next_status(claim.status, "return")
    amount = event["amount"]
    session.add(
        LedgerEntry(
            claim_id=claim.id,
            city=claim.city,
            year=claim.year,
            id_number=claim.id_number,
            unit_id=claim.unit_id,
            benefit=claim.benefit,
            kind="paid",
            amount=-amount,
            reference=payout_id,
            actor=PAYMENTS,
            at=utc_now(),
        )
    )
    claim.paid_on = None
    transition(
        session,
        claim,
        to_status,
        PAYMENTS,
        f"银行退票，{format_money(amount)} 元已退回（{payout_id}），请核实收款信息后重新支付",
    )
    return claim


def retry_payout(
    session: Session, *, claim_id: str, actor: str, record: Record, reason: str | None = None
) -> Claim:
    """重新支付 once the cause is fixed (Zhangjiakou: a dormant or unactivated union card is
    fixed at a bank branch): approved again, with the next attempt number for payments."""
    claim = get_claim(session, claim_id, lock=True)
    to_status = rules.next_status(claim.status, "retry")
    claim.payout_attempt += 1
    transition(
        session,
        claim,
        to_status,
        actor,
        f"重新支付（第 {claim.payout_attempt} 次）{'：' + reason.strip() if reason and reason.strip() else ''}",
    )
    record(
        events.CLAIM_APPROVED,
        payload(
            claim,
            member_id=claim.member_id,
            payable=format_money(claim.payable),
            attempt=claim.payout_attempt,
        ),
    )
    return claim


def raise_clawback(
    session: Session,
    policy: CityPolicy,
    *,
    claim_id: str,
    exclusion: str,
    actor: str,
    reason: str,
    record: Record,
) -> LedgerEntry:
    """追回 a paid benefit later found excluded: ``exclusion`` is the city-year's exclusion code
    (fraud, drunkenness …); the city must say that it is recovered (Exclusion.recover)."""
    claim = get_claim(session, claim_id, lock=True)
    to_status = rules.next_status(claim.status, "claw_back")
    text = rules.require_reason(reason, "claw_back")
    known = {e.code: e for e in policy.exclusions(claim.year)}
    found = known.get(exclusion)
    if found is None:
        raise ClawbackRefused(
            f"{policy.name} {claim.year} 年没有除外责任 {exclusion!r}；已有: {'、'.join(known) or '无'}"
        )
    cause = load_claim(claim.facts).cause
    if not found.applies(claim.benefit, cause):
        raise ClawbackRefused(f"除外责任「{found.label}」不适用于这项补助（{claim.benefit}）")
    if not found.recover:
        raise ClawbackRefused(
            f"{policy.name} {claim.year} 年的除外责任「{found.label}」未规定追回已发放的补助"
        )
    accumulator, totals = accumulators.lock(
        session, city=claim.city, year=claim.year, id_number=claim.id_number
    )
    accumulators.add(
        session,
        accumulator,
        totals,
        claim.benefit,
        payable=-claim.payable,
        counted=-(claim.counted or ZERO),
        claims=-1,
    )
    entry = LedgerEntry(
        claim_id=claim.id,
        city=claim.city,
        year=claim.year,
        id_number=claim.id_number,
        unit_id=claim.unit_id,
        benefit=claim.benefit,
        kind="clawback",
        amount=-claim.payable,
        counted=-(claim.counted or ZERO),
        reference=exclusion,
        reason=text,
        actor=actor,
        at=utc_now(),
    )
    session.add(entry)
    session.flush()
    transition(
        session,
        claim,
        to_status,
        actor,
        f"除外责任「{found.label}」：{text}；追回 {format_money(claim.payable)} 元",
    )
    record(
        events.CLAWBACK_RAISED,
        payload(claim, clawback_id=entry.id, amount=format_money(claim.payable)),
    )
    return entry


def payout_details(session: Session, *, claim_id: str) -> dict[str, Any]:
    """What payments needs to pay an approved claim (full ID and card: payments' role needs them)."""
    claim = get_claim(session, claim_id)
    if claim.status != rules.APPROVED:
        raise WorkflowError(f"{rules.STATUS_LABELS.get(claim.status, claim.status)}的申请不能支付")
    return {
        "claim_id": claim.id,
        "city": claim.city,
        "year": claim.year,
        "benefit": claim.benefit,
        "member_id": claim.member_id,
        "name": claim.name,
        "id_number": claim.id_number,
        "unit_id": claim.unit_id,
        "district": claim.district,  # payments pays from the account premiums go to (Quzhou)
        "payee_card": claim.payee_card,
        "amount": format_money(claim.payable),
        "attempt": claim.payout_attempt,
        "pay_due": claim.pay_due.isoformat() if claim.pay_due else None,
    }
