"""Money in, many at once: the callback worker's set-based form of receipts.receive_premium.

Applying premiums one by one through the ORM cost ~23 ms each (a receipt, the invoice, two
journals with their accounts looked up line by line, the outbox), on the same CPU that answers
the banks. Here a run of premium callbacks costs a handful of statements whatever its length:
the invoices their remarks name (locked, so two workers never both apply to one invoice),
what is applied to them already, the receipts seen before, the ledger accounts (created once
if new); then receipts, journals and entries are inserted in bulk and the invoices paid in
full updated at once. The decisions are receipts.py's own (``hold_reason``), taken in the
order the callbacks were received, each seeing the ones before it in the run.

A callback the fast path cannot decide from what it fetched (a remark with no invoice code,
a superseded invoice's code, an amount that is not a positive sum of fen) is handed to
receipts.receive_premium in a savepoint, in its place in the order: what came before it is
written first, and the rest of the run is fetched again after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.kernel.money import FEN, MoneyError, format_money, parse_money
from services.messaging.database import utc_now
from services.payments import events, invoices, ledger, receipts
from services.payments.models import (
    ZERO,
    Invoice,
    Journal,
    JournalEntry,
    LedgerAccount,
    Receipt,
    new_id,
)

Record = Callable[[str, dict[str, Any]], str]
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass(frozen=True)
class Item:
    """One verified premium callback: its id, provider and normalised event."""

    callback_id: str
    provider: str
    event: Mapping[str, Any]


@dataclass
class _Work:
    """What a run writes, gathered first and written in bulk."""

    receipts: list[dict[str, Any]] = field(default_factory=list)
    journals: list[dict[str, Any]] = field(default_factory=list)
    lines: list[tuple[str, ledger.AccountRef, Decimal]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def apply(
    session: Session,
    items: Sequence[Item],
    *,
    record: Record,
    actor: str = "bank",
    one_by_one: Callable[[Item], str],
) -> dict[str, str]:
    """Apply or hold each premium of ``items``; return callback id → receipts.APPLIED|HELD
    (or what ``one_by_one`` answered for a callback the fast path leaves to it)."""
    outcome: dict[str, str] = {}
    rest = list(items)
    while rest:
        done, slow = _run(session, rest, outcome, record=record, actor=actor)
        if slow is None:
            break
        outcome[slow.callback_id] = one_by_one(slow)
        rest = rest[done + 1 :]
    return outcome


def _run(
    session: Session,
    items: list[Item],
    outcome: dict[str, str],
    *,
    record: Record,
    actor: str,
) -> tuple[int, Item | None]:
    """Apply items in order until one needs the slow path; write them; return how many were
    done and that item (None when the run is finished)."""
    codes = {item.callback_id: invoices.codes_in(item.event.get("reference")) for item in items}
    found = _invoices(session, {c for cs in codes.values() for c in cs})
    received = _received(session, [inv.id for inv in found.values()])
    seen = _receipts_seen(session, items)
    work = _Work()
    for index, item in enumerate(items):
        event_id = str(item.event["event_id"])
        if (item.provider, event_id) in seen:
            outcome[item.callback_id] = seen[(item.provider, event_id)]
            continue
        invoice = next((found[c] for c in codes[item.callback_id] if c in found), None)
        amount = _amount(item.event)
        if invoice is None or invoice.status == invoices.SUPERSEDED or amount is None:
            _write(session, work, record)
            return index, item
        outcome[item.callback_id] = _decide(item, invoice, amount, received, work, actor)
        seen[(item.provider, event_id)] = outcome[item.callback_id]
    _write(session, work, record)
    return len(items), None


def _amount(event: Mapping[str, Any]) -> Decimal | None:
    try:
        amount = parse_money(event["amount"], name="amount")
    except (MoneyError, KeyError):
        return None
    return amount if amount > 0 and amount == amount.quantize(FEN) else None


def _decide(
    item: Item,
    invoice: Invoice,
    amount: Decimal,
    received: dict[str, Decimal],
    work: _Work,
    actor: str,
) -> str:
    event = item.event
    now = utc_now()
    receipt = Receipt(
        id=new_id(),
        callback_id=item.callback_id,
        provider=item.provider,
        provider_event_id=str(event["event_id"]),
        city=invoice.city,
        account_number=str(event.get("account") or ""),
        amount=amount,
        currency=str(event.get("currency") or "CNY").upper(),
        payer_name=event.get("payer_name"),
        reference=event.get("reference"),
        occurred_at=datetime.fromisoformat(event["occurred_at"])
        if event.get("occurred_at")
        else now,
        invoice_id=invoice.id,
        created_at=now,
    )
    already = received.get(invoice.id, ZERO)
    reason, detail = receipts.hold_reason(item.provider, receipt, invoice, already)
    fund = ledger.fund(receipt.city, receipt.account_number)
    if reason is None:
        receipt.status = receipts.APPLIED
        received[invoice.id] = already + amount
        paid_in_full = received[invoice.id] >= invoice.amount
        if paid_in_full and invoice.status == invoices.OPEN:
            # the loaded invoice, changed: the session's flush writes it (one UPDATE)
            invoice.status, invoice.paid_at = invoices.PAID, now
        _journal(
            work,
            key=f"receipt:{receipt.id}:applied",
            kind="premium_applied",
            city=invoice.city,
            memo=f"{invoice.code} 到账 {format_money(amount)} 元",
            actor=actor,
            lines=[
                (fund, amount),
                (
                    ledger.receivable(
                        invoice.city, invoice.year, invoice.unit_id, invoice.member_id
                    ),
                    -amount,
                ),
            ],
        )
        work.events.append(
            (events.PREMIUM_PAID, events.premium_payload(invoice, receipt, paid_in_full))
        )
    else:
        receipt.status, receipt.hold_reason, receipt.hold_detail = receipts.HELD, reason, detail
        _journal(
            work,
            key=f"receipt:{receipt.id}:held",
            kind="premium_held",
            city=receipt.city,
            memo=f"待处理：{receipts.HOLD_REASONS[reason]}；{detail or ''}",
            actor=actor,
            lines=[(fund, amount), (ledger.suspense(receipt.city), -amount)],
        )
        work.events.append((events.PAYMENT_HELD, events.held_payload(receipt)))
    work.receipts.append({c.key: getattr(receipt, c.key) for c in Receipt.__table__.columns})
    return receipt.status


def _journal(work: _Work, *, key, kind, city, memo, actor, lines) -> None:
    journal_id = new_id()
    work.journals.append(
        {
            "id": journal_id,
            "key": key,
            "kind": kind,
            "city": city,
            "memo": memo,
            "actor": actor,
            "at": utc_now(),
            "reverses_id": None,
        }
    )
    if sum((amount for _, amount in lines), ZERO) != 0:  # never: both lines are ±amount
        raise AssertionError(f"{key}: unbalanced")
    work.lines.extend((journal_id, ref, amount) for ref, amount in lines)


# ---- reading, in bulk -------------------------------------------------------------------------


def _invoices(session: Session, codes: set[str]) -> dict[str, Invoice]:
    """The invoices of ``codes``, locked for this transaction (PostgreSQL): another worker
    applying to the same invoice waits until this one has written what it received."""
    if not codes:
        return {}
    query = select(Invoice).where(Invoice.code.in_(sorted(codes))).order_by(Invoice.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {inv.code: inv for inv in session.scalars(query)}


def _received(session: Session, invoice_ids: list[str]) -> dict[str, Decimal]:
    if not invoice_ids:
        return {}
    rows = session.execute(
        select(Receipt.invoice_id, func.coalesce(func.sum(Receipt.amount), 0))
        .where(Receipt.invoice_id.in_(invoice_ids), Receipt.status == receipts.APPLIED)
        .group_by(Receipt.invoice_id)
    )
    return {invoice_id: ledger.sum_to_money(total) for invoice_id, total in rows}


def _receipts_seen(session: Session, items: Sequence[Item]) -> dict[tuple[str, str], str]:
    """Receipts recorded before for these events (a redelivery): their outcome stands."""
    rows = session.execute(
        select(Receipt.provider, Receipt.provider_event_id, Receipt.status).where(
            Receipt.provider_event_id.in_({str(i.event["event_id"]) for i in items})
        )
    )
    providers = {i.provider for i in items}
    return {
        (provider, event_id): receipts.APPLIED if status == receipts.APPLIED else receipts.HELD
        for provider, event_id, status in rows
        if provider in providers
    }


# ---- writing, in bulk -------------------------------------------------------------------------


def _write(session: Session, work: _Work, record: Record) -> None:
    if not work.receipts:
        return
    accounts = _account_ids(session, {ref.code: ref for _, ref, _ in work.lines})
    session.execute(insert(Journal), work.journals)
    session.execute(insert(Receipt), work.receipts)
    session.execute(
        insert(JournalEntry),
        [
            {
                "id": new_id(),
                "journal_id": journal_id,
                "account_id": accounts[ref.code],
                "amount": a,
            }
            for journal_id, ref, a in work.lines
        ],
    )
    for event_type, payload in work.events:
        record(event_type, payload)
    work.receipts.clear()


def _account_ids(session: Session, refs: dict[str, ledger.AccountRef]) -> dict[str, str]:
    """Ledger account ids by code; the missing ones created once (ON CONFLICT DO NOTHING)."""
    ids = _ids_of(session, list(refs))
    missing = [ref for code, ref in refs.items() if code not in ids]
    if missing:
        insert_ = _INSERT[session.get_bind().dialect.name]
        now = utc_now()
        session.execute(
            insert_(LedgerAccount).on_conflict_do_nothing(index_elements=["code"]),
            [
                {
                    "id": new_id(),
                    "code": ref.code,
                    "kind": ref.kind,
                    "city": ref.city,
                    "year": ref.year,
                    "unit_id": ref.unit_id,
                    "member_id": ref.member_id,
                    "claim_id": ref.claim_id,
                    "bank_account": ref.bank_account,
                    "created_at": now,
                }
                for ref in missing
            ],
        )
        ids.update(_ids_of(session, [ref.code for ref in missing]))
    return ids


def _ids_of(session: Session, codes: list[str]) -> dict[str, str]:
    rows = session.execute(
        select(LedgerAccount.code, LedgerAccount.id).where(LedgerAccount.code.in_(codes))
    )
    return dict(rows.all())
