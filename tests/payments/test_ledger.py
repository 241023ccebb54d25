"""The ledger: balanced journals only, posted once, never edited (reversals instead), and
balances that are the sums of what was posted."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.payments import ledger
from services.payments.exceptions import LedgerError
from services.payments.models import Journal, JournalEntry

D = Decimal
FUND = ledger.fund("quzhou", "338000600018170324480070")
OWED = ledger.receivable("quzhou", 2025, "unit-1")
INCOME = ledger.premiums("quzhou", 2025, "unit-1")


def test_a_balanced_journal_is_posted_once_per_key(session):
    first = ledger.post(
        session,
        key="invoice:1:issued",
        kind="invoice_issued",
        city="quzhou",
        memo="m",
        actor="t",
        lines=[(OWED, D("500.00")), (INCOME, D("-500.00"))],
    )
    again = ledger.post(
        session,
        key="invoice:1:issued",
        kind="invoice_issued",
        city="quzhou",
        memo="m",
        actor="t",
        lines=[(OWED, D("500.00")), (INCOME, D("-500.00"))],
    )

    assert first is not None and again is None
    assert ledger.journal_lines(session, first.id) == [
        (INCOME.code, D("-500.00")),
        (OWED.code, D("500.00")),
    ]
    assert ledger.balance(session, OWED.code) == D("500.00")
    assert session.scalar(select(func.count()).select_from(Journal)) == 1


@pytest.mark.parametrize(
    "lines, words",
    [
        ([(OWED, D("500.00")), (INCOME, D("-499.99"))], "借贷不平"),
        ([(OWED, D("0.001")), (INCOME, D("-0.001"))], "精确到分"),
        ([(OWED, D("0")), (INCOME, D("0"))], "没有金额"),
    ],
)
def test_an_unbalanced_or_fractional_journal_is_refused(session, lines, words):
    with pytest.raises(LedgerError, match=words):
        ledger.post(session, key="k", kind="x", city="quzhou", memo="m", actor="t", lines=lines)
    assert session.scalar(select(func.count()).select_from(JournalEntry)) == 0


def test_a_reversal_undoes_a_journal_without_editing_it(session):
    journal = ledger.post(
        session,
        key="receipt:1:applied",
        kind="premium_applied",
        city="quzhou",
        memo="m",
        actor="t",
        lines=[(FUND, D("500.00")), (OWED, D("-500.00"))],
    )

    reversal = ledger.reverse(session, "receipt:1:applied", actor="finance", memo="posted twice")
    again = ledger.reverse(session, "receipt:1:applied", actor="finance", memo="again")

    assert again is None and reversal.reverses_id == journal.id
    assert ledger.journal_lines(session, journal.id) == [
        (FUND.code, D("500.00")),
        (OWED.code, D("-500.00")),
    ]
    assert ledger.journal_lines(session, reversal.id) == [
        (FUND.code, D("-500.00")),
        (OWED.code, D("500.00")),
    ]
    assert ledger.balance(session, FUND.code) == 0


def test_balances_per_fund_account_and_per_unit(session):
    block = ledger.fund("quzhou", "338000600018170324480010")
    for key, lines in [
        ("i1", [(OWED, D("800.00")), (INCOME, D("-800.00"))]),
        ("r1", [(FUND, D("500.00")), (OWED, D("-500.00"))]),
        ("r2", [(block, D("120.50")), (ledger.suspense("quzhou"), D("-120.50"))]),
    ]:
        ledger.post(session, key=key, kind="x", city="quzhou", memo="m", actor="t", lines=lines)

    assert ledger.fund_balances(session, "quzhou") == {
        "338000600018170324480010": "120.50",
        "338000600018170324480070": "500.00",
    }
    assert ledger.unit_premiums(session, "quzhou", 2025) == [
        {"unit_id": "unit-1", "billed": "800.00", "received": "500.00", "outstanding": "300.00"}
    ]
    assert ledger.city_balances(session, "quzhou")["suspense"] == "-120.50"


def test_every_journal_of_many_random_postings_sums_to_zero(session):
    """Property-style: random journals of 2–5 lines over a dozen accounts, some reversed;
    every journal sums to zero, the trial balance is zero, and each account's balance is what
    the postings add up to."""
    rng = random.Random(20241130)
    accounts = [ledger.fund("wujin", f"acct{i}") for i in range(3)] + [
        ledger.receivable("wujin", 2024, f"unit{i}") for i in range(5)
    ]
    accounts += [ledger.suspense("wujin"), ledger.refunds("wujin"), ledger.benefits("wujin", 2024)]
    expected = {ref.code: D("0.00") for ref in accounts}
    keys = []
    for n in range(150):
        count = rng.randint(1, 4)
        chosen = rng.sample(accounts, count + 1)
        amounts = [D(rng.randint(-5_000_00, 5_000_00)) / 100 for _ in range(count)]
        lines = list(zip(chosen, amounts + [-sum(amounts, D("0"))], strict=True))
        if ledger.post(
            session, key=f"j{n}", kind="x", city="wujin", memo="m", actor="t", lines=lines
        ):
            keys.append(f"j{n}")
            for ref, amount in lines:
                expected[ref.code] += amount
    for key in rng.sample(keys, 30):
        journal = session.scalar(select(Journal).where(Journal.key == key))
        for code, amount in ledger.journal_lines(session, journal.id):
            expected[code] -= amount
        ledger.reverse(session, key, actor="t", memo="undo")

    assert ledger.unbalanced_journals(session) == []
    sums = session.execute(
        select(JournalEntry.journal_id, func.sum(JournalEntry.amount)).group_by(
            JournalEntry.journal_id
        )
    ).all()
    # (SQLite sums NUMERIC as REAL: compared to the fen, as ledger.balance does)
    assert len(sums) >= 150 and all(round(D(str(total)), 2) == 0 for _, total in sums)
    assert round(D(str(session.scalar(select(func.sum(JournalEntry.amount))))), 2) == 0
    for code, amount in expected.items():
        assert ledger.balance(session, code) == amount, code
