"""Money in: a premium that arrived in a fund account, applied to its invoice or held.

A receipt is matched to the invoice its remark names (invoices.find_for_payment: the code,
else the reference). It is applied (fund / receivable, the invoice paid, ``premium_paid``)
only when everything agrees; otherwise the money is booked to the city's suspense account
and held for finance with the reason (``payment_held``), never applied silently:

- ``currency``            not in yuan (CNY);
- ``unknown_reference``   no invoice found by the remark;
- ``account``             paid into another account than the invoice's;
- ``already_paid``        the invoice was paid before (a second transfer);
- ``late``                after the city-year's payment window (the invoice's pay_by);
- ``short`` / ``over``    less or more than the invoice asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.kernel.money import format_money, parse_money
from services.messaging.database import utc_now
from services.payments import events, invoices, ledger
from services.payments.exceptions import NotFound
from services.payments.models import ZERO, Invoice, LedgerAccount, Receipt, new_id

Record = Callable[[str, dict[str, Any]], str]
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the day a payment was made, as the payer sees it

RECEIVED, APPLIED, HELD, REFUNDED = "received", "applied", "held", "refunded"
# a receipt's state as the finance desk reads it in a refusal ("no longer held: 已入账")
STATUS_LABELS = {RECEIVED: "已到账", APPLIED: "已入账", HELD: "待处理", REFUNDED: "已退款"}
HOLD_REASONS = {
    "currency": "币种不是人民币",
    "unknown_reference": "附言中找不到缴费码或缴费通知的附言",
    "account": "收款账户与缴费通知不符",
    "already_paid": "该缴费通知已缴清，本笔为重复缴费",
    "late": "超过缴费期限",
    "short": "金额少于应缴",
    "over": "金额多于应缴",
}


def receive_premium(
    session: Session,
    *,
    provider: str,
    event: Mapping[str, Any],
    callback_id: str | None,
    record: Record,
    actor: str = "bank",
) -> Receipt:
    """Record a premium.received event (callbacks.py's normalised form) once per provider
    event id, and apply or hold it."""
    event_id = str(event["event_id"])
    existing = session.scalar(
        select(Receipt).where(Receipt.provider == provider, Receipt.provider_event_id == event_id)
    )
    if existing is not None:
        return existing
    amount = parse_money(event["amount"], name="amount")
    account_number = str(event.get("account") or "")
    reference = event.get("reference")
    invoice = invoices.find_for_payment(
        session, reference, None if provider == "wechatpay" else account_number
    )
    receipt = Receipt(
        id=new_id(),
        callback_id=callback_id,
        provider=provider,
        provider_event_id=event_id,
        city=invoice.city if invoice else city_of_account(session, account_number) or "unknown",
        account_number=account_number,
        amount=amount,
        currency=str(event.get("currency") or "CNY").upper(),
        payer_name=event.get("payer_name"),
        reference=reference,
        occurred_at=datetime.fromisoformat(event["occurred_at"])
        if event.get("occurred_at")
        else utc_now(),
        invoice_id=invoice.id if invoice else None,
        status=RECEIVED,  # for a moment: applied or held below, in this transaction
        created_at=utc_now(),
    )
    reason, detail = _hold_reason(session, provider, receipt, invoice)
    session.add(receipt)
    session.flush()
    if reason is None:
        apply_to_invoice(session, receipt, invoice, actor=actor, record=record)
    else:
        hold(session, receipt, reason, detail, actor=actor, record=record)
    return receipt


def _hold_reason(
    session: Session, provider: str, receipt: Receipt, invoice: Invoice | None
) -> tuple[str | None, str | None]:
    received = received_for(session, invoice.id) if invoice is not None else ZERO
    return hold_reason(provider, receipt, invoice, received)


def hold_reason(
    provider: str, receipt: Any, invoice: Any, received: Decimal
) -> tuple[str | None, str | None]:
    """Why ``receipt`` must be held (reason, detail), or (None, None) to apply it; ``received``
    is what is applied to ``invoice`` already. Pure: premium_batch.py calls it too."""
    if receipt.currency != "CNY":
        return "currency", f"币种 {receipt.currency[:3]}，不是人民币"
    if invoice is None:
        return "unknown_reference", f"附言「{(receipt.reference or '')[:60]}」找不到缴费通知"
    if provider != "wechatpay" and receipt.account_number != invoice.account_number:
        return "account", f"缴费通知 {invoice.code} 的收款账户是 {invoice.account_number}"
    if invoice.status == invoices.PAID:
        return "already_paid", f"缴费通知 {invoice.code} 已于 {invoice.paid_at:%Y-%m-%d} 缴清"
    day = receipt.occurred_at.astimezone(SHANGHAI).date()
    if invoice.pay_by is not None and day > invoice.pay_by:
        return "late", f"{day} 到账，缴费期限为 {invoice.pay_by}"
    due = invoice.amount - received
    if receipt.amount < due:
        return "short", f"应缴 {format_money(due)} 元，到账 {format_money(receipt.amount)} 元"
    if receipt.amount > due:
        return "over", f"应缴 {format_money(due)} 元，到账 {format_money(receipt.amount)} 元"
    return None, None


def city_of_account(session: Session, account_number: str) -> str | None:
    """The city whose fund account this is, from the invoices (or the ledger) that name it;
    None when neither does."""
    city = session.scalar(
        select(Invoice.city).where(Invoice.account_number == account_number).limit(1)
    ) or session.scalar(
        select(LedgerAccount.city)
        .where(LedgerAccount.kind == ledger.FUND, LedgerAccount.bank_account == account_number)
        .limit(1)
    )
    return city or None


def received_for(session: Session, invoice_id: str) -> Decimal:
    total = session.scalar(
        select(func.coalesce(func.sum(Receipt.amount), 0)).where(
            Receipt.invoice_id == invoice_id, Receipt.status == APPLIED
        )
    )
    return ledger.sum_to_money(total)


def apply_to_invoice(
    session: Session,
    receipt: Receipt,
    invoice: Invoice,
    *,
    actor: str,
    record: Record,
    from_suspense: bool = False,
    memo: str | None = None,
) -> None:
    """Apply ``receipt`` to ``invoice``: credit its receivable, debiting the fund account for
    money arriving now, or the city's suspense for held money the desk applies."""
    from_ref = (
        ledger.suspense(receipt.city)
        if from_suspense
        else ledger.fund(receipt.city, receipt.account_number)
    )
    ledger.post(
        session,
        key=f"receipt:{receipt.id}:applied",
        kind="premium_applied",
        city=invoice.city,
        memo=memo or f"{invoice.code} 到账 {format_money(receipt.amount)} 元",
        actor=actor,
        lines=[
            (from_ref, receipt.amount),
            (
                ledger.receivable(invoice.city, invoice.year, invoice.unit_id, invoice.member_id),
                -receipt.amount,
            ),
        ],
    )
    receipt.status, receipt.invoice_id = APPLIED, invoice.id
    session.flush()
    paid_in_full = received_for(session, invoice.id) >= invoice.amount
    if paid_in_full and invoice.status == invoices.OPEN:
        invoice.status, invoice.paid_at = invoices.PAID, utc_now()
    record(events.PREMIUM_PAID, events.premium_payload(invoice, receipt, paid_in_full))


def hold(
    session: Session,
    receipt: Receipt,
    reason: str,
    detail: str | None,
    *,
    actor: str,
    record: Record,
) -> None:
    """Book the money to the city's suspense account and hold it for the finance desk."""
    ledger.post(
        session,
        key=f"receipt:{receipt.id}:held",
        kind="premium_held",
        city=receipt.city,
        memo=f"待处理：{HOLD_REASONS[reason]}；{detail or ''}",
        actor=actor,
        lines=[
            (ledger.fund(receipt.city, receipt.account_number), receipt.amount),
            (ledger.suspense(receipt.city), -receipt.amount),
        ],
    )
    receipt.status, receipt.hold_reason, receipt.hold_detail = HELD, reason, detail
    session.flush()
    record(events.PAYMENT_HELD, events.held_payload(receipt))


def get_receipt(session: Session, receipt_id: str, *, lock: bool = False) -> Receipt:
    query = select(Receipt).where(Receipt.id == receipt_id)
    if lock:
        query = query.with_for_update()
    receipt = session.scalar(query)
    if receipt is None:
        raise NotFound(f"没有到账记录 {receipt_id}")
    return receipt


def to_dict(receipt: Receipt) -> dict[str, Any]:
    return {
        "receipt_id": receipt.id,
        "provider": receipt.provider,
        "event_id": receipt.provider_event_id,
        "city": receipt.city,
        "account": receipt.account_number,
        "amount": format_money(receipt.amount),
        "currency": receipt.currency,
        "payer_name": receipt.payer_name,
        "reference": receipt.reference,
        "occurred_at": receipt.occurred_at.isoformat(),
        "invoice_id": receipt.invoice_id,
        "status": receipt.status,
        "hold_reason": receipt.hold_reason,
        "hold_label": HOLD_REASONS.get(receipt.hold_reason or ""),
        "hold_detail": receipt.hold_detail,
    }
