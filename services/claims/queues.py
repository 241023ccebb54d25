"""What reviewers look at: the queues by due date (rules.py dates them from the plugin's review
cadence) and the claims of a city-year; what a clerk looks at: the unit's claims, newest first.
ID numbers are masked (DESIGN.md, personal data).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from services.access.identity import subject_of
from services.claims import rules
from services.claims.claims import histories
from services.claims.models import Attachment, AttachmentDocument, Claim
from services.kernel.money import format_money
from services.kernel.policy import Benefit
from services.kernel.privacy import mask_id

BenefitOf = Callable[[str, int, str], Benefit | None]  # (city, year, code) -> the benefit


def _row(
    claim: Claim, today: date | None = None, benefit_of: BenefitOf | None = None
) -> dict[str, Any]:
    submitted = claim.status == rules.SUBMITTED
    due = claim.review_due if submitted else claim.pay_due
    limit = claim.pay_limit if not submitted else None
    if submitted and benefit_of is not None and claim.received_on is not None:
        benefit = benefit_of(claim.city, claim.year, claim.benefit)
        limit = rules.review_limit(benefit, claim.received_on) if benefit else None
    return {
        "claim_id": claim.id,
        "city": claim.city,
        "year": claim.year,
        "benefit": claim.benefit,
        "status": claim.status,
        "status_label": rules.STATUS_LABELS.get(claim.status, claim.status),
        "name": claim.name,
        "id_number": mask_id(claim.id_number),
        "unit": claim.unit_name,
        "disease": claim.disease,
        "received_on": claim.received_on.isoformat() if claim.received_on else None,
        "review_batch": claim.review_batch,
        "due": due.isoformat() if due else None,
        "limit": limit.isoformat() if limit and limit != due else None,
        "days_left": (due - today).days if due and today else None,
        "payable": None if claim.payable is None else format_money(claim.payable),
        "refused": bool(claim.assessment and claim.assessment.get("refused")),
        "returned_reason": claim.returned_reason,
    }


PAGE = 200  # claims of one queue page: what a reviewer's screen shows, not the whole city


def review_queue(
    session: Session,
    *,
    city: str,
    today: date,
    within_days: int = 3,
    year: int | None = None,
    limit: int = PAGE,
    offset: int = 0,
    benefit_of: BenefitOf | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """What reviewers must look at, most urgent first: submitted claims past their review date
    (``overdue``), due within ``within_days`` (``due_soon``) or later (``later``: also those
    with no date), and approved claims whose payment is past due (``payment_overdue``).

    One page of each: the submitted claims ``offset`` … ``offset + limit`` in order of their
    stored review date (then receipt), and as many unpaid ones, ordered and cut by the database
    (issue 14: a city's whole backlog, each claim with its JSON, was loaded and sorted here).

    Each row's ``due`` date and, where the notice sets one beyond it, its outer ``limit``
    (Zhangjiakou: 15 days, at most 20; a submitted claim's from ``benefit_of``, the plugin's
    benefit, an approved one's as approval stored it)."""
    query = (
        select(Claim)
        .where(Claim.city == city, Claim.status == rules.SUBMITTED)
        .order_by(
            Claim.review_due.asc().nulls_last(),
            Claim.received_on.asc().nulls_last(),
            Claim.created_at,
            Claim.id,
        )
        .limit(limit)
        .offset(offset)
    )
    if year is not None:
        query = query.where(Claim.year == year)
    soon = today + timedelta(days=within_days)
    queue: dict[str, list[dict[str, Any]]] = {
        "overdue": [],
        "due_soon": [],
        "later": [],
        "payment_overdue": [],
    }
    for claim in session.scalars(query):
        if claim.review_due is not None and claim.review_due < today:
            queue["overdue"].append(_row(claim, today, benefit_of))
        elif claim.review_due is not None and claim.review_due <= soon:
            queue["due_soon"].append(_row(claim, today, benefit_of))
        else:
            queue["later"].append(_row(claim, today, benefit_of))
    unpaid = (
        select(Claim)
        .where(
            Claim.city == city,
            Claim.status.in_((rules.APPROVED, rules.PAYMENT_FAILED)),
            Claim.pay_due < today,
        )
        .order_by(Claim.pay_due, Claim.created_at, Claim.id)
        .limit(limit)
        .offset(offset)
    )
    if year is not None:
        unpaid = unpaid.where(Claim.year == year)
    queue["payment_overdue"] = [_row(c, today) for c in session.scalars(unpaid)]
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


def unit_claims(
    session: Session,
    *,
    city: str,
    year: int,
    unit_id: str,
    district: str | None = None,
    owner: str | None = None,
    limit: int = PAGE,
    offset: int = 0,
    benefit_of: BenefitOf | None = None,
) -> dict[str, Any]:
    """One page of a unit's claims of a year, newest first: what its clerk comes back to (the
    status, the amount, why it was returned, how many documents a draft or a returned claim
    still lacks). ``district``, when given, is kept to as well: a district clerk's listing
    holds only their district's claims, whichever unit they name (access.py checks the two).
    ``owner``'s own drafts not yet tied to a unit (cover not asked yet) are listed with them.

    ``next_offset``: where the next page starts, None on the last."""
    ours = Claim.unit_id == unit_id
    if district is not None:
        ours = and_(ours, Claim.district == district)
    if owner:
        theirs = or_(
            Claim.created_by == owner,
            Claim.created_by.endswith(f" ({subject_of(owner)})", autoescape=True),
        )
        ours = or_(ours, and_(Claim.unit_id.is_(None), theirs))
    query = (
        select(Claim)
        .where(Claim.city == city, Claim.year == year, ours)
        .order_by(Claim.created_at.desc(), Claim.id.desc())
        .limit(limit + 1)  # one more: whether a next page exists
        .offset(offset)
    )
    claims = list(session.scalars(query))
    more = len(claims) > limit
    claims = claims[:limit]
    missing = _missing_documents(session, claims, benefit_of)
    rows = []
    for claim in claims:
        row = _row(claim)
        row["missing_documents"] = missing.get(claim.id)
        rows.append(row)
    return {"claims": rows, "next_offset": offset + limit if more else None}


def member_claims(session: Session, *, city: str, member_ids: list[str]) -> list[dict[str, Any]]:
    """The city's claims of these members (enrollment's ids), newest first, each with its
    history: what the help desk reads back to a member who calls. A claim is theirs by the
    member cover named on it, or, a draft whose cover is not asked yet (no date that counts
    among its facts), by the ID number their other claims carry."""
    theirs = Claim.member_id.in_(member_ids)
    numbers = select(Claim.id_number).where(Claim.city == city, theirs)
    query = (
        select(Claim)
        .where(Claim.city == city, or_(theirs, Claim.id_number.in_(numbers)))
        .order_by(Claim.created_at.desc(), Claim.id.desc())
    )
    claims = list(session.scalars(query))
    changes = histories(session, [c.id for c in claims])
    return [{**_row(claim), "history": changes[claim.id]} for claim in claims]


def _missing_documents(
    session: Session, claims: list[Claim], benefit_of: BenefitOf | None
) -> dict[str, int]:
    """How many of its benefit's documents each draft or returned claim neither carries nor
    marks not applicable (what submit would name): one query for the page's documents."""
    open_claims = [c for c in claims if c.status in (rules.DRAFT, rules.RETURNED)]
    if benefit_of is None or not open_claims:
        return {}
    present: dict[str, set[str]] = {c.id: set() for c in open_claims}
    documents = (
        select(Attachment.claim_id, AttachmentDocument.document)
        .join(Attachment, AttachmentDocument.attachment_id == Attachment.id)
        .where(Attachment.claim_id.in_(list(present)))
    )
    for claim_id, document in session.execute(documents):
        present[claim_id].add(document)
    counts = {}
    for claim in open_claims:
        benefit = benefit_of(claim.city, claim.year, claim.benefit)
        if benefit is not None:
            counts[claim.id] = len(
                rules.missing_documents(
                    benefit.attachments, present[claim.id], claim.not_applicable or {}
                )
            )
    return counts
