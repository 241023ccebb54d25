"""What reviewers look at: the queues by due date (rules.py dates them from the plugin's review
cadence) and the claims of a city-year. ID numbers are masked (DESIGN.md, personal data).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.claims import rules
from services.claims.models import Claim
from services.kernel.money import format_money
from services.kernel.privacy import mask_id


def _row(claim: Claim, today: date | None = None) -> dict[str, Any]:
    due = claim.review_due if claim.status == rules.SUBMITTED else claim.pay_due
    return {
        "claim_id": claim.id,
        "city": claim.city,
        "year": claim.year,
        "benefit": claim.benefit,
        "status": claim.status,
        "name": claim.name,
        "id_number": mask_id(claim.id_number),
        "unit": claim.unit_name,
        "disease": claim.disease,
        "received_on": claim.received_on.isoformat() if claim.received_on else None,
        "review_batch": claim.review_batch,
        "due": due.isoformat() if due else None,
        "days_left": (due - today).days if due and today else None,
        "payable": None if claim.payable is None else format_money(claim.payable),
        "refused": bool(claim.assessment and claim.assessment.get("refused")),
        "returned_reason": claim.returned_reason,
    }


def review_queue(
    session: Session, *, city: str, today: date, within_days: int = 3, year: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """What reviewers must look at, most urgent first: submitted claims past their review date
    (``overdue``), due within ``within_days`` (``due_soon``) or later (``later``: also those
    with no date), and approved claims whose payment is past due (``payment_overdue``)."""
    query = select(Claim).where(Claim.city == city, Claim.status == rules.SUBMITTED)
    if year is not None:
        query = query.where(Claim.year == year)
    soon = today + timedelta(days=within_days)
    queue: dict[str, list[dict[str, Any]]] = {
        "overdue": [],
        "due_soon": [],
        "later": [],
        "payment_overdue": [],
    }
    waiting = sorted(
        session.scalars(query), key=lambda c: (c.review_due or date.max, c.received_on or date.max)
    )
    for claim in waiting:
        if claim.review_due is not None and claim.review_due < today:
            queue["overdue"].append(_row(claim, today))
        elif claim.review_due is not None and claim.review_due <= soon:
            queue["due_soon"].append(_row(claim, today))
        else:
            queue["later"].append(_row(claim, today))
    unpaid = select(Claim).where(
        Claim.city == city,
        Claim.status.in_((rules.APPROVED, rules.PAYMENT_FAILED)),
        Claim.pay_due < today,
    )
    if year is not None:
        unpaid = unpaid.where(Claim.year == year)
    queue["payment_overdue"] = [
        _row(c, today) for c in sorted(session.scalars(unpaid), key=lambda c: c.pay_due)
    ]
    return queue


def list_claims(
    session: Session, *, city: str, year: int, status: str | None = None, unit_id: str | None = None
) -> list[dict[str, Any]]:
    query = (
        select(Claim)
        .where(Claim.city == city, Claim.year == year)
        .order_by(Claim.created_at, Claim.id)
    )
    if status:
        query = query.where(Claim.status == status)
    if unit_id:
        query = query.where(Claim.unit_id == unit_id)
    return [_row(claim) for claim in session.scalars(query)]
