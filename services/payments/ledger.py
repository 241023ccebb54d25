"""The double-entry ledger: every movement of money is one journal of balanced entries.

An entry is a signed amount on one account: a debit is positive, a credit negative, and the
entries of a journal sum to zero (``post`` refuses anything else). Nothing posted is edited:
a mistake or a superseded invoice is undone by ``reverse``, a journal with every sign turned.
A journal is posted once per ``key`` (what caused it: ``invoice:<id>:issued``), so the same
fact handled twice posts nothing the second time.

The chart (one account per code, created on first use):

- ``fund``        the city's (Quzhou: the district block's) bank account: money in hand.
- ``receivable``  what a unit (or a Wujin member) owes for a scheme year; debited when an
                  invoice is issued, credited when its money is applied.
- ``premiums``    premium income of a unit-year, credited when the invoice is issued.
                  Received = billed − what is still receivable (an over-payment applied by
                  the desk shows as received, a negative receivable as the unit's credit).
- ``suspense``    the city's money that arrived but is held for finance (short, over, no
                  invoice, not CNY, late).
- ``refunds``     held money finance approved to send back, until it leaves the bank.
- ``benefits``    the city-year's benefit expense, debited when a payout is created.
- ``payable``     what is owed to a member for one claim, until the bank pays it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.kernel.money import FEN, format_money
from services.messaging.database import utc_now
from services.payments.exceptions import LedgerError
from services.payments.models import ZERO, Journal, JournalEntry, LedgerAccount, new_id

FUND, RECEIVABLE, PREMIUMS, SUSPENSE, REFUNDS, BENEFITS, PAYABLE = (
    "fund",
    "receivable",
    "premiums",
    "suspense",
    "refunds",
    "benefits",
    "payable",
)
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def sum_to_money(total: object) -> Decimal:
    """A SUM from the database as exact yuan. SQLite keeps NUMERIC as a REAL, so its sums of
    two-place amounts carry float noise far below a fen; rounding to the fen removes it."""
    return Decimal(str(total)).quantize(FEN)


@dataclass(frozen=True)
class AccountRef:
    """An account of the chart, named by its code and the facts it is about."""

    code: str
    kind: str
    city: str
    year: int | None = None
    unit_id: str | None = None
    member_id: str | None = None
    claim_id: str | None = None
    bank_account: str | None = None


def fund(city: str, bank_account: str) -> AccountRef:
    return AccountRef(f"{FUND}:{city}:{bank_account}", FUND, city, bank_account=bank_account)


def receivable(
    city: str, year: int, unit_id: str | None, member_id: str | None = None
) -> AccountRef:
    """A unit-year's receivable; a member paying for themselves (Wujin) owes on their own."""
    owner = f"member:{member_id}" if member_id else unit_id
    return AccountRef(
        f"{RECEIVABLE}:{city}:{owner}:{year}", RECEIVABLE, city, year, unit_id, member_id
    )


def premiums(city: str, year: int, unit_id: str | None) -> AccountRef:
    return AccountRef(f"{PREMIUMS}:{city}:{unit_id}:{year}", PREMIUMS, city, year, unit_id)


def suspense(city: str) -> AccountRef:
    return AccountRef(f"{SUSPENSE}:{city}", SUSPENSE, city)


def refunds(city: str) -> AccountRef:
    return AccountRef(f"{REFUNDS}:{city}", REFUNDS, city)


def benefits(city: str, year: int) -> AccountRef:
    return AccountRef(f"{BENEFITS}:{city}:{year}", BENEFITS, city, year)


def payable(city: str, year: int, claim_id: str, member_id: str | None) -> AccountRef:
    return AccountRef(
        f"{PAYABLE}:{city}:{claim_id}", PAYABLE, city, year, member_id=member_id, claim_id=claim_id
    )


# ---- posting ---------------------------------------------------------------------------------


def account(session: Session, ref: AccountRef) -> LedgerAccount:
    """The account of ``ref.code``, created on first use (once, even when two transactions
    race: INSERT … ON CONFLICT DO NOTHING, then read)."""
    found = session.scalar(select(LedgerAccount).where(LedgerAccount.code == ref.code))
    if found is not None:
        return found
    insert = _INSERT[session.get_bind().dialect.name]
    session.execute(
        insert(LedgerAccount)
        .values(
            id=new_id(),
            code=ref.code,
            kind=ref.kind,
            city=ref.city,
            year=ref.year,
            unit_id=ref.unit_id,
            member_id=ref.member_id,
            claim_id=ref.claim_id,
            bank_account=ref.bank_account,
            created_at=utc_now(),
        )
        .on_conflict_do_nothing(index_elements=["code"])
    )
    return session.scalar(select(LedgerAccount).where(LedgerAccount.code == ref.code))


def post(
    session: Session,
    *,
    key: str,
    kind: str,
    city: str,
    memo: str,
    actor: str,
    lines: Iterable[tuple[AccountRef, Decimal]],
) -> Journal | None:
    """Post one journal of ``lines`` (account, signed amount; debit +, credit −). None if a
    journal with ``key`` was posted before. LedgerError if the lines do not balance, carry
    fractions of a fen, or are empty."""
    lines = [(ref, Decimal(amount)) for ref, amount in lines if Decimal(amount) != 0]
    if not lines:
        raise LedgerError(f"记账 {key}：没有金额")
    for ref, amount in lines:
        if amount != amount.quantize(FEN):
            raise LedgerError(f"记账 {key}：{ref.code} 的金额 {amount} 不是精确到分的金额")
    total = sum((amount for _, amount in lines), ZERO)
    if total != 0:
        raise LedgerError(f"记账 {key}：借贷不平（差 {format_money(total)} 元）")
    if session.scalar(select(Journal.id).where(Journal.key == key)) is not None:
        return None
    journal = Journal(
        id=new_id(), key=key, kind=kind, city=city, memo=memo, actor=actor, at=utc_now()
    )
    session.add(journal)
    session.flush()  # the unique key decides a race: the loser's transaction fails here
    for ref, amount in lines:
        session.add(
            JournalEntry(
                id=new_id(),
                journal_id=journal.id,
                account_id=account(session, ref).id,
                amount=amount,
            )
        )
    session.flush()
    return journal


def reverse(session: Session, journal_key: str, *, actor: str, memo: str) -> Journal | None:
    """Undo the journal posted under ``journal_key`` with one whose every sign is turned.
    None if it was never posted or is reversed already."""
    original = session.scalar(select(Journal).where(Journal.key == journal_key))
    if original is None:
        return None
    if session.scalar(select(Journal.id).where(Journal.reverses_id == original.id)) is not None:
        return None
    reversal = Journal(
        id=new_id(),
        key=f"reversal:{original.key}"[:160],
        kind=f"reversal:{original.kind}"[:40],
        city=original.city,
        memo=memo,
        reverses_id=original.id,
        actor=actor,
        at=utc_now(),
    )
    session.add(reversal)
    session.flush()
    entries = session.scalars(select(JournalEntry).where(JournalEntry.journal_id == original.id))
    for entry in list(entries):
        session.add(
            JournalEntry(
                id=new_id(),
                journal_id=reversal.id,
                account_id=entry.account_id,
                amount=-entry.amount,
            )
        )
    session.flush()
    return reversal


def posted(session: Session, key: str) -> bool:
    return session.scalar(select(Journal.id).where(Journal.key == key)) is not None


# ---- reading ---------------------------------------------------------------------------------


def balance(session: Session, code: str) -> Decimal:
    """The signed balance of one account (debit +); zero for an account never used."""
    total = session.scalar(
        select(func.coalesce(func.sum(JournalEntry.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == JournalEntry.account_id)
        .where(LedgerAccount.code == code)
    )
    return sum_to_money(total)


def unbalanced_journals(session: Session) -> list[tuple[str, Decimal]]:
    """Journals whose entries do not sum to zero (``post`` never writes one): for the tests
    and for an operator's check of the database."""
    rows = session.execute(
        select(JournalEntry.journal_id, func.sum(JournalEntry.amount))
        .group_by(JournalEntry.journal_id)
        .having(func.sum(JournalEntry.amount) != 0)
    ).all()
    found = [(journal_id, sum_to_money(total)) for journal_id, total in rows]
    return [(journal_id, total) for journal_id, total in found if total != 0]


def fund_balances(session: Session, city: str) -> dict[str, str]:
    """Money in hand per fund bank account of a city (Quzhou: per district block)."""
    rows = session.execute(
        select(LedgerAccount.bank_account, func.coalesce(func.sum(JournalEntry.amount), 0))
        .join(JournalEntry, JournalEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.kind == FUND, LedgerAccount.city == city)
        .group_by(LedgerAccount.bank_account)
        .order_by(LedgerAccount.bank_account)
    ).all()
    return {number: format_money(sum_to_money(total)) for number, total in rows}


def city_balances(session: Session, city: str) -> dict[str, str]:
    """Every kind of account of a city, summed: the fund, what units owe, what is held …"""
    rows = session.execute(
        select(LedgerAccount.kind, func.coalesce(func.sum(JournalEntry.amount), 0))
        .join(JournalEntry, JournalEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.city == city)
        .group_by(LedgerAccount.kind)
    ).all()
    return {kind: format_money(sum_to_money(total)) for kind, total in sorted(rows)}


def unit_premiums(session: Session, city: str, year: int) -> list[dict[str, str]]:
    """Per unit of a city-year: billed (invoices in force), received and still owed. What
    claims' statistics divide paid benefits by (the reimbursement rate)."""
    rows = session.execute(
        select(
            LedgerAccount.unit_id,
            LedgerAccount.kind,
            func.coalesce(func.sum(JournalEntry.amount), 0),
        )
        .join(JournalEntry, JournalEntry.account_id == LedgerAccount.id)
        .where(
            LedgerAccount.city == city,
            LedgerAccount.year == year,
            LedgerAccount.kind.in_((RECEIVABLE, PREMIUMS)),
        )
        .group_by(LedgerAccount.unit_id, LedgerAccount.kind)
    ).all()
    units: dict[str | None, dict[str, Decimal]] = {}
    for unit_id, kind, total in rows:
        units.setdefault(unit_id, {RECEIVABLE: ZERO, PREMIUMS: ZERO})[kind] += sum_to_money(total)
    answer = []
    for unit_id in sorted(units, key=lambda u: u or ""):
        billed = -units[unit_id][PREMIUMS]
        owed = units[unit_id][RECEIVABLE]
        answer.append(
            {
                "unit_id": unit_id,
                "billed": format_money(billed),
                "received": format_money(billed - owed),
                "outstanding": format_money(owed),
            }
        )
    return answer


def unit_balance(session: Session, city: str, year: int, unit_id: str) -> dict[str, str]:
    for row in unit_premiums(session, city, year):
        if row["unit_id"] == unit_id:
            return row
    zero = format_money(ZERO)
    return {"unit_id": unit_id, "billed": zero, "received": zero, "outstanding": zero}


def journal_lines(session: Session, journal_id: str) -> list[tuple[str, Decimal]]:
    """(account code, signed amount) of one journal, for reports and tests."""
    rows = session.execute(
        select(LedgerAccount.code, JournalEntry.amount)
        .join(LedgerAccount, LedgerAccount.id == JournalEntry.account_id)
        .where(JournalEntry.journal_id == journal_id)
        .order_by(LedgerAccount.code)
    ).all()
    return [(code, Decimal(amount)) for code, amount in rows]
