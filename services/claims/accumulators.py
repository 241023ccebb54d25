"""Per member-year accumulators: what a member was already granted in a city-year, per benefit.

They are the ``history`` the plugin's ``assess`` reads (POLICIES.md: "history is what this
member was already paid in the same city-year"): Zhangjiakou's 30 000 cumulative cap and its
once-per-period rules, Wujin's cumulative bands (a 0.00 answer still adds its counted amount).

Two approvals for the same member must not both read the same history. An approval therefore
takes the member-year row's lock before it reads the totals and keeps it until its
transaction ends, having added its own amounts:

- PostgreSQL: ``SELECT … FOR UPDATE`` on the ``accumulators`` row. A second approval waits
  there; when the first commits, READ COMMITTED gives the second's next statement (the totals)
  a fresh snapshot, so it sees the first's amounts. The row exists before anyone locks it
  (``ensure``, at submission), so the lock is on a row, not on a gap.
- SQLite: ``FOR UPDATE`` does not exist. Every transaction begins with BEGIN IMMEDIATE
  (services/messaging/database.py), and SQLite lets one connection write at a time: from its
  first statement the transaction holds the database's write lock until it ends. Within a process the engine has
  a single connection (services/messaging/database.py), so transactions are serialised
  before they start; another process writing the same file waits (busy timeout) or gets
  "database is locked" — an error, never a second approval on stale totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.claims.models import ZERO, Accumulator, AccumulatorTotal, new_id
from services.kernel.policy import HistoryEntry
from services.messaging.database import utc_now

_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

Totals = dict[str, AccumulatorTotal]


def ensure(session: Session, *, city: str, year: int, id_number: str) -> None:
    """Create the member-year row if it is missing (a concurrent creator's row is kept)."""
    insert = _INSERT[session.get_bind().dialect.name]
    session.execute(
        insert(Accumulator.__table__)
        .values(id=new_id(), city=city, year=year, id_number=id_number, updated_at=utc_now())
        .on_conflict_do_nothing(index_elements=["city", "year", "id_number"])
    )


def lock(session: Session, *, city: str, year: int, id_number: str) -> tuple[Accumulator, Totals]:
    """The member-year row, locked until the transaction ends, and its totals read after the lock.

    The row exists already (submission ensured it), so the lock is one ``SELECT … FOR
    UPDATE``; only a missing row costs the INSERT first (issue 14: approvals were 12
    statements). On SQLite the transaction holds the write lock from its BEGIN IMMEDIATE
    (services/messaging/database.py), before this SELECT."""
    query = (
        select(Accumulator)
        .where(
            Accumulator.city == city, Accumulator.year == year, Accumulator.id_number == id_number
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    accumulator = session.scalars(query).one_or_none()
    if accumulator is None:
        ensure(session, city=city, year=year, id_number=id_number)
        accumulator = session.scalars(query).one()
    return accumulator, _totals(session, accumulator.id)


def _totals(session: Session, accumulator_id: str) -> Totals:
    rows = session.scalars(
        select(AccumulatorTotal)
        .where(AccumulatorTotal.accumulator_id == accumulator_id)
        .execution_options(populate_existing=True)
    )
    return {row.benefit: row for row in rows}


def history_of(totals: Mapping[str, AccumulatorTotal]) -> tuple[HistoryEntry, ...]:
    """The history ``assess`` reads: one entry per benefit with a claim still standing."""
    return tuple(
        HistoryEntry(benefit=t.benefit, payable=t.payable, counted=t.counted)
        for t in sorted(totals.values(), key=lambda t: t.benefit)
        if t.claims > 0
    )


def history(session: Session, *, city: str, year: int, id_number: str) -> tuple[HistoryEntry, ...]:
    """The history without a lock: a preview (at submission), not a decision."""
    accumulator = session.scalar(
        select(Accumulator).where(
            Accumulator.city == city, Accumulator.year == year, Accumulator.id_number == id_number
        )
    )
    return () if accumulator is None else history_of(_totals(session, accumulator.id))


def add(
    session: Session,
    accumulator: Accumulator,
    totals: Totals,
    benefit: str,
    *,
    payable: Decimal,
    counted: Decimal,
    claims: int,
) -> AccumulatorTotal:
    """Add (or, negative, take away) a claim's amounts; the caller holds the lock."""
    total = totals.get(benefit)
    if total is None:
        total = AccumulatorTotal(
            accumulator_id=accumulator.id, benefit=benefit, payable=ZERO, counted=ZERO, claims=0
        )
        session.add(total)
        totals[benefit] = total
    total.payable += payable
    total.counted += counted
    total.claims += claims
    return total


def member_totals(session: Session, *, city: str, year: int, id_number: str) -> dict[str, dict]:
    """A member-year's totals for display: {benefit: {payable, counted, claims}}."""
    accumulator = session.scalar(
        select(Accumulator).where(
            Accumulator.city == city, Accumulator.year == year, Accumulator.id_number == id_number
        )
    )
    if accumulator is None:
        return {}
    return {
        t.benefit: {
            "payable": f"{t.payable:.2f}",
            "counted": f"{t.counted:.2f}",
            "claims": t.claims,
        }
        for t in _totals(session, accumulator.id).values()
    }
