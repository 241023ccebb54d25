"""The finance desk's lists of a city's payouts: by state, and the failed or returned ones with
the bank's own code and text beside the normalised reason (failures.py). Newest first, one
page at a time in SQL (a city pays thousands of claims a year), card numbers masked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.payments import payouts
from services.payments.exceptions import PaymentsError
from services.payments.models import Payout

PAGE = 50  # payouts one screen shows
MAX_PAGE = 500  # what one call may make the database load
UNPAID = (payouts.FAILED, payouts.RETURNED)


def by_state(
    session: Session,
    city: str,
    status: str | None = None,
    *,
    limit: int = PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """One page of the city's payouts (``status``: one state, else all), newest first, and how
    many the city has in each state with the state's name (the filter's options)."""
    if status is not None and status not in payouts.STATUS_LABELS:
        raise PaymentsError(f"没有支付状态 {status}")
    query = select(Payout).where(Payout.city == city)
    if status is not None:
        query = query.where(Payout.status == status)
    counts = dict(
        session.execute(
            select(Payout.status, func.count()).where(Payout.city == city).group_by(Payout.status)
        ).all()
    )
    total = counts.get(status, 0) if status is not None else sum(counts.values())
    return _page(
        session,
        query.order_by(Payout.created_at.desc(), Payout.id.desc()),
        total,
        limit,
        offset,
        counts={s: counts.get(s, 0) for s in payouts.STATUS_LABELS},
        labels=dict(payouts.STATUS_LABELS),
    )


def failed(session: Session, city: str, *, limit: int = PAGE, offset: int = 0) -> dict[str, Any]:
    """One page of the city's failed and returned (退票) payouts, the latest answer first: the
    normalised reason, what the member should do, and the bank's raw code and text."""
    where = (Payout.city == city, Payout.status.in_(UNPAID))
    total = session.scalar(select(func.count()).select_from(Payout).where(*where)) or 0
    query = select(Payout).where(*where).order_by(Payout.finished_at.desc(), Payout.id.desc())
    return _page(session, query, total, limit, offset)


def _page(session: Session, query, total: int, limit: int, offset: int, **extra) -> dict:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise PaymentsError(f"每页 1 到 {MAX_PAGE} 条，起始位置不小于 0")
    items = []
    for payout in session.scalars(query.limit(limit).offset(offset)):
        item = payouts.to_dict(payout)
        item["created_at"] = payout.created_at.isoformat()
        item["finished_at"] = payout.finished_at.isoformat() if payout.finished_at else None
        items.append(item)
    return {"items": items, "total": total, "limit": limit, "offset": offset, **extra}
