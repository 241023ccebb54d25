"""The finance desk: held money, looked at and resolved by a person, each decision recorded with
who and why (a ``resolutions`` row).

- ``apply``  the held receipt is applied to the invoice it named after all (a short payment
             accepted, a late one admitted): suspense / receivable.
- ``match``  applied to another invoice the clerk found (a remark with a typo, the wrong
             unit's code).
- ``refund`` sent back: proposed by one person and approved by another (four eyes) —
             suspense / refunds on approval; the bank transfer itself is finance's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.access.identity import same_person
from services.kernel.money import format_money
from services.messaging.database import utc_now
from services.payments import invoices, ledger, receipts
from services.payments.exceptions import DeskError, NotFound
from services.payments.models import Receipt, Resolution, new_id

Record = Callable[[str, dict[str, Any]], str]

PROPOSED, DONE, DECLINED = "proposed", "done", "declined"
# a resolution's state in a refusal: a second person deciding what the first already did
STATUS_LABELS = {PROPOSED: "待审批", DONE: "已办结", DECLINED: "已驳回"}


def list_held(session: Session, city: str | None = None) -> list[dict[str, Any]]:
    """Held receipts, oldest first, with the reason and any refund awaiting approval."""
    query = select(Receipt).where(Receipt.status == receipts.HELD).order_by(Receipt.occurred_at)
    if city is not None:
        query = query.where(Receipt.city == city)
    pending = {
        r.receipt_id: r
        for r in session.scalars(select(Resolution).where(Resolution.status == PROPOSED))
    }
    answer = []
    for receipt in session.scalars(query):
        item = receipts.to_dict(receipt)
        proposal = pending.get(receipt.id)
        item["pending_refund"] = (
            {
                "resolution_id": proposal.id,
                "proposed_by": proposal.proposed_by,
                "reason": proposal.reason,
            }
            if proposal
            else None
        )
        answer.append(item)
    return answer


def _require_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise DeskError("处理待处理款项必须写明原因")
    return text


def _receipt_state(receipt: Receipt) -> str:
    return receipts.STATUS_LABELS.get(receipt.status, receipt.status)


def _held(session: Session, receipt_id: str) -> Receipt:
    receipt = receipts.get_receipt(session, receipt_id, lock=True)
    if receipt.status != receipts.HELD:
        raise DeskError(f"到账记录 {receipt_id} 已不是待处理状态（{_receipt_state(receipt)}）")
    if receipt.currency != "CNY":
        raise DeskError(f"到账记录 {receipt_id} 的币种是 {receipt.currency}，只能退款")
    return receipt


def apply(
    session: Session,
    *,
    receipt_id: str,
    actor: str,
    reason: str,
    record: Record,
    invoice_id: str | None = None,
    invoice_code: str | None = None,
) -> Resolution:
    """Apply a held receipt to its own invoice, or match it to another: by ``invoice_id``, or
    by the short code a person reads on the invoice (``invoice_code``)."""
    text = _require_reason(reason)
    receipt = _held(session, receipt_id)
    if _pending(session, receipt_id) is not None:
        raise DeskError(f"到账记录 {receipt_id} 有待审批的退款，请先审批或驳回")
    if invoice_code:
        found = invoices.by_code(session, invoice_code)
        if found is None:
            raise DeskError(f"没有缴费码为 {invoice_code.strip().upper()} 的缴费通知，请核对")
        invoice_id = found.id
    target = invoice_id or receipt.invoice_id
    if target is None:
        raise DeskError(f"到账记录 {receipt_id} 没有对应的缴费通知，请指定要匹配的缴费通知")
    invoice = invoices.get_invoice(session, target, lock=True)
    if invoice.status == invoices.SUPERSEDED:
        raise DeskError(f"缴费通知 {invoice.code} 已作废，请匹配代替它的缴费通知")
    if invoice.city != receipt.city:
        raise DeskError(f"缴费通知 {invoice.code} 属于 {invoice.city}，到账记录属于 {receipt.city}")
    action = "match" if invoice_id and invoice_id != receipt.invoice_id else "apply"
    receipts.apply_to_invoice(
        session,
        receipt,
        invoice,
        actor=actor,
        record=record,
        from_suspense=True,
        memo=f"财务处理（{'匹配' if action == 'match' else '确认入账'}）：{text}",
    )
    resolution = Resolution(
        id=new_id(),
        receipt_id=receipt.id,
        action=action,
        invoice_id=invoice.id,
        status=DONE,
        proposed_by=actor,
        reason=text,
        proposed_at=utc_now(),
        decided_by=actor,
        decided_at=utc_now(),
    )
    session.add(resolution)
    session.flush()
    return resolution


def propose_refund(session: Session, *, receipt_id: str, actor: str, reason: str) -> Resolution:
    text = _require_reason(reason)
    receipt = receipts.get_receipt(session, receipt_id, lock=True)
    if receipt.status != receipts.HELD:
        raise DeskError(f"到账记录 {receipt_id} 已不是待处理状态（{_receipt_state(receipt)}）")
    if _pending(session, receipt_id) is not None:
        raise DeskError(f"到账记录 {receipt_id} 已有待审批的退款")
    resolution = Resolution(
        id=new_id(),
        receipt_id=receipt_id,
        action="refund",
        status=PROPOSED,
        proposed_by=actor,
        reason=text,
        proposed_at=utc_now(),
    )
    session.add(resolution)
    session.flush()
    return resolution


def approve_refund(
    session: Session, *, resolution_id: str, actor: str, reason: str | None = None
) -> Resolution:
    """Approve a proposed refund: only someone other than the proposer may (four eyes)."""
    resolution = _proposal(session, resolution_id)
    if same_person(actor, resolution.proposed_by):  # by subject, whatever name each carried
        raise DeskError("退款须由提出人以外的另一人审批")
    receipt = receipts.get_receipt(session, resolution.receipt_id, lock=True)
    ledger.post(
        session,
        key=f"receipt:{receipt.id}:refund",
        kind="refund_approved",
        city=receipt.city,
        memo=f"退款 {format_money(receipt.amount)} 元：{resolution.reason}（{resolution.proposed_by} 提出，{actor} 审批）",
        actor=actor,
        lines=[
            (ledger.suspense(receipt.city), receipt.amount),
            (ledger.refunds(receipt.city), -receipt.amount),
        ],
    )
    receipt.status = receipts.REFUNDED
    resolution.status, resolution.decided_by, resolution.decided_at = DONE, actor, utc_now()
    resolution.decision_reason = (reason or "").strip() or None
    session.flush()
    return resolution


def decline_refund(session: Session, *, resolution_id: str, actor: str, reason: str) -> Resolution:
    text = _require_reason(reason)
    resolution = _proposal(session, resolution_id)
    resolution.status, resolution.decided_by, resolution.decided_at = DECLINED, actor, utc_now()
    resolution.decision_reason = text
    session.flush()
    return resolution


def _pending(session: Session, receipt_id: str) -> Resolution | None:
    return session.scalar(
        select(Resolution).where(Resolution.receipt_id == receipt_id, Resolution.status == PROPOSED)
    )


def _proposal(session: Session, resolution_id: str) -> Resolution:
    resolution = session.scalar(
        select(Resolution).where(Resolution.id == resolution_id).with_for_update()
    )
    if resolution is None:
        raise NotFound(f"没有处理记录 {resolution_id}")
    if resolution.status != PROPOSED:
        state = STATUS_LABELS.get(resolution.status, resolution.status)
        raise DeskError(f"处理记录 {resolution_id} 已处理（{state}）")
    return resolution


def resolutions(session: Session, receipt_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Resolution)
        .where(Resolution.receipt_id == receipt_id)
        .order_by(Resolution.proposed_at)
    )
    return [
        {
            "resolution_id": r.id,
            "action": r.action,
            "invoice_id": r.invoice_id,
            "status": r.status,
            "proposed_by": r.proposed_by,
            "reason": r.reason,
            "decided_by": r.decided_by,
            "decision_reason": r.decision_reason,
        }
        for r in rows
    ]
