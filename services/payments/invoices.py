"""Invoices: what a unit owes for its group application, or a Wujin member for themselves.

An invoice carries the account the city plugin routes the money to (Quzhou: the district
block's; one account elsewhere), the amount, and the reference the payer writes in the
transfer remark: the plugin's own form where the notice gives one (Zhangjiakou 通知 三、8:
the unit's full name + "第十七期职工医疗互助金", from the plugin's year file, already filled in
on the quote's account), and always a short code of its own (``new_code``), which is what a
bank line or a WeChat Pay order is matched by first.

Issuing posts the journal "receivable / premiums" (ledger.py). A returned application that is
submitted again re-issues: the same amount to the same account keeps the open invoice; a
different quote supersedes it (the old one's journal reversed, a new invoice and code), so
an application never has two invoices in force.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.money import format_money, parse_money
from services.kernel.policy import CityPolicy, Unit
from services.messaging.database import utc_now
from services.payments import events, ledger
from services.payments.exceptions import InvoiceError, NotFound
from services.payments.models import Invoice, new_id

Record = Callable[[str, dict[str, Any]], str]

OPEN, PAID, SUPERSEDED = "open", "paid", "superseded"
UNIT, MEMBER = "unit", "member"

# Digits and capitals a clerk cannot confuse when copying a code into a remark: no 0/O, 1/I/L,
# 2/Z, 5/S, 8/B, U/V (23 characters).
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTWXY"
CODE_BODY = 7
_CODE_IN_TEXT = re.compile(rf"[{CODE_ALPHABET}]{{{CODE_BODY + 1}}}")


def check_character(body: str) -> str:
    """The character that makes sum((i + 1) * value(c_i)) over the whole code ≡ 0 (mod 23).

    The alphabet has 23 characters, a prime, so with position weights 1…8 (all nonzero and
    distinct mod 23) any one character mistyped changes the sum by weight × difference ≠ 0,
    and two neighbours swapped change it by their difference ≠ 0: both are always caught
    (Luhn mod N, by contrast, misses some swaps). A few lines, so written here."""
    n = len(CODE_ALPHABET)
    total = sum((i + 1) * CODE_ALPHABET.index(char) for i, char in enumerate(body))
    weight = len(body) + 1
    return CODE_ALPHABET[(-total * pow(weight, -1, n)) % n]


def new_code() -> str:
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_BODY))
    return body + check_character(body)


def valid_code(code: str) -> bool:
    code = code.strip().upper()
    return (
        len(code) == CODE_BODY + 1
        and all(char in CODE_ALPHABET for char in code)
        and check_character(code[:-1]) == code[-1]
    )


def codes_in(text: str | None) -> list[str]:
    """Every valid invoice code written in a remark (the payer may add anything around it)."""
    if not text:
        return []
    upper = unicodedata.normalize("NFKC", text).upper()
    found = []
    for start in range(len(upper) - CODE_BODY):
        candidate = upper[start : start + CODE_BODY + 1]
        if _CODE_IN_TEXT.fullmatch(candidate) and valid_code(candidate):
            found.append(candidate)
    return found


def normalise_reference(text: str | None) -> str:
    """References compare without blanks and with full-width characters made half-width."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


# ---- issuing ---------------------------------------------------------------------------------


def issue_for_application(
    session: Session,
    policy: CityPolicy,
    *,
    application: Mapping[str, Any],
    actor: str,
    record: Record,
) -> Invoice:
    """The invoice of a submitted application, from its quote (enrollment.application(...)):
    ``{application_id, unit_id, city, year, quote: {total_due, account: {payee, bank, number,
    remark?}}}``. The same quote again returns the open invoice; a changed one supersedes it."""
    quote = application.get("quote") or {}
    account = quote.get("account")
    where = f"申请 {application.get('application_id')}"
    if not account:
        raise InvoiceError(f"{where}：报价没有收款账户，请先向发文的工会确认账户")
    amount = parse_money(quote.get("total_due"), name="total_due")
    if amount <= 0:
        raise InvoiceError(f"{where}：应缴金额为 {format_money(amount)} 元，无需开具缴费通知")
    year = int(application["year"])
    application_id = str(application["application_id"])
    existing = session.scalar(
        select(Invoice)
        .where(Invoice.application_id == application_id, Invoice.status.in_((OPEN, PAID)))
        .order_by(Invoice.issued_at.desc())
        .with_for_update()
    )
    if existing is not None:
        if existing.amount == amount and existing.account_number == account["number"]:
            return existing  # the same quote again: the open (or paid) invoice stands
        if existing.status == PAID:
            raise InvoiceError(
                f"{where}：已按 {format_money(existing.amount)} 元缴费（{existing.code}），"
                f"新报价 {format_money(amount)} 元；差额请财务处理，不重开缴费通知"
            )
    invoice = _new_invoice(
        session,
        kind=UNIT,
        city=str(application["city"]),
        year=year,
        application_id=application_id,
        unit_id=application.get("unit_id"),
        member_id=None,
        payer_name=application.get("unit_name"),
        amount=amount,
        account=account,
        pay_by=policy.period(year).window_end,
        actor=actor,
    )
    if existing is not None:
        _supersede(session, existing, invoice, actor)
    _post_issue(session, invoice, actor)
    record(events.INVOICE_ISSUED, events.invoice_payload(invoice, supersedes=existing))
    return invoice


def issue_for_member(
    session: Session,
    policy: CityPolicy,
    *,
    city: str,
    year: int,
    unit_id: str | None,
    member_id: str,
    name: str,
    actor: str,
    record: Record,
) -> Invoice:
    """A member paying their own share (Wujin: 100 yuan, 80 of it the district union's, so
    20 from the member, through WeChat Pay): the amount is the plugin's quote for one person,
    the account its routing. The open invoice of the same member-year is returned again."""
    existing = session.scalar(
        select(Invoice).where(
            Invoice.city == city,
            Invoice.year == year,
            Invoice.member_id == member_id,
            Invoice.status.in_((OPEN, PAID)),
        )
    )
    if existing is not None:
        return existing
    quote = policy.quote(year, Unit(name=name, participants=1))
    if quote.account is None:
        raise InvoiceError(f"{policy.name} {year} 年没有收款账户，不能开具个人缴费通知")
    if quote.total_due <= 0:
        raise InvoiceError(f"{policy.name} {year} 年个人无需缴费")
    invoice = _new_invoice(
        session,
        kind=MEMBER,
        city=city,
        year=year,
        application_id=None,
        unit_id=unit_id,
        member_id=member_id,
        payer_name=name,
        amount=quote.total_due,
        account=quote.account.to_dict(),
        pay_by=policy.period(year).window_end,
        actor=actor,
    )
    _post_issue(session, invoice, actor)
    record(events.INVOICE_ISSUED, events.invoice_payload(invoice))
    return invoice


def _new_invoice(
    session: Session,
    *,
    kind: str,
    city: str,
    year: int,
    application_id: str | None,
    unit_id: str | None,
    member_id: str | None,
    payer_name: str | None,
    amount: Decimal,
    account: Mapping[str, Any],
    pay_by: date | None,
    actor: str,
) -> Invoice:
    code = _unused_code(session)
    # the plugin's remark where the notice gives one, else the code alone; the code is always
    # added, so a remark written as asked is matched even when two units share a name
    remark = (account.get("remark") or "").strip()
    reference = f"{remark} {code}" if remark else code
    invoice = Invoice(
        id=new_id(),
        code=code,
        kind=kind,
        status=OPEN,
        city=city,
        year=year,
        application_id=application_id,
        unit_id=unit_id,
        member_id=member_id,
        payer_name=payer_name,
        amount=amount,
        currency="CNY",
        payee=account["payee"],
        bank=account["bank"],
        account_number=account["number"],
        reference=reference,
        pay_by=pay_by,
        issued_by=actor,
        issued_at=utc_now(),
    )
    return invoice


def _unused_code(session: Session) -> str:
    for _ in range(20):
        code = new_code()
        if session.scalar(select(Invoice.id).where(Invoice.code == code)) is None:
            return code
    raise InvoiceError("无法生成未使用的缴费码，请重试")  # 23^7 codes: never in practice


def _supersede(session: Session, old: Invoice, new: Invoice, actor: str) -> None:
    old.status = SUPERSEDED
    session.flush()  # the open-invoice index admits the new one only once the old is closed
    session.add(new)
    session.flush()
    old.superseded_by_id = new.id
    ledger.reverse(
        session,
        issue_key(old),
        actor=actor,
        memo=f"缴费通知 {old.code} 作废，由 {new.code} 代替（重新提交的申请）",
    )


def _post_issue(session: Session, invoice: Invoice, actor: str) -> None:
    session.add(invoice)
    session.flush()
    ledger.post(
        session,
        key=issue_key(invoice),
        kind="invoice_issued",
        city=invoice.city,
        memo=f"缴费通知 {invoice.code}：{invoice.reference}",
        actor=actor,
        lines=[
            (
                ledger.receivable(invoice.city, invoice.year, invoice.unit_id, invoice.member_id),
                invoice.amount,
            ),
            (ledger.premiums(invoice.city, invoice.year, invoice.unit_id), -invoice.amount),
        ],
    )


def issue_key(invoice: Invoice) -> str:
    return f"invoice:{invoice.id}:issued"


# ---- finding ---------------------------------------------------------------------------------


def get_invoice(session: Session, invoice_id: str, *, lock: bool = False) -> Invoice:
    query = select(Invoice).where(Invoice.id == invoice_id)
    if lock:
        query = query.with_for_update()
    invoice = session.scalar(query)
    if invoice is None:
        raise NotFound(f"没有缴费通知 {invoice_id}")
    return invoice


def by_code(session: Session, code: str) -> Invoice | None:
    """The invoice with this short code (as a person types it: case and spaces forgiven)."""
    wanted = normalise_reference(code).upper()
    return session.scalar(select(Invoice).where(Invoice.code == wanted)) if wanted else None


def find_for_payment(
    session: Session, reference: str | None, account_number: str | None = None
) -> Invoice | None:
    """The invoice a payment's remark names: by a valid code in it first, else by the whole
    reference as the invoice asked for it (blanks and full-width forms aside), among the
    invoices to ``account_number`` when it is given. A superseded
    invoice's code finds the invoice that replaced it."""
    for code in codes_in(reference):
        invoice = session.scalar(select(Invoice).where(Invoice.code == code))
        if invoice is not None:
            while invoice.status == SUPERSEDED and invoice.superseded_by_id:
                invoice = get_invoice(session, invoice.superseded_by_id)
            return invoice
    wanted = normalise_reference(reference)
    if not wanted:
        return None
    query = select(Invoice).where(Invoice.status.in_((OPEN, PAID))).order_by(Invoice.issued_at)
    if account_number:
        query = query.where(Invoice.account_number == account_number)
    candidates = session.scalars(query)
    for invoice in candidates:
        remark = normalise_reference(invoice.reference.rsplit(" ", 1)[0])
        if remark and wanted == remark:
            return invoice
    return None


def to_dict(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "code": invoice.code,
        "kind": invoice.kind,
        "status": invoice.status,
        "city": invoice.city,
        "year": invoice.year,
        "application_id": invoice.application_id,
        "unit_id": invoice.unit_id,
        "member_id": invoice.member_id,
        "amount": format_money(invoice.amount),
        "currency": invoice.currency,
        "account": {
            "payee": invoice.payee,
            "bank": invoice.bank,
            "number": invoice.account_number,
        },
        "reference": invoice.reference,
        "pay_by": invoice.pay_by.isoformat() if invoice.pay_by else None,
        "superseded_by": invoice.superseded_by_id,
    }
