"""Who to tell: the contacts notify asks for (full phone numbers: it sends to them; nothing
else should ask)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.enrollment.exceptions import NotFound
from services.enrollment.models import Application, Enrolment, Member, Unit


def _unit(session: Session, unit_id: str) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"没有单位 {unit_id}")
    return unit


def unit_contact(session: Session, unit_id: str) -> dict[str, Any]:
    unit = _unit(session, unit_id)
    return {
        "unit_id": unit.id,
        "name": unit.name,
        "contact_phone": unit.contact_phone,
        "district": unit.district,  # claims' payout_details: the account a payout comes from
    }


def member_contact(session: Session, member_id: str) -> dict[str, Any]:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(f"没有会员 {member_id}")
    return {"member_id": member.id, "name": member.name, "phone": member.phone}


def notice_recipients(session: Session, application_id: str) -> dict[str, Any]:
    """The unit and every member an approved application enrolled."""
    application = session.get(Application, application_id)
    if application is None:
        raise NotFound(f"没有申请 {application_id}")
    unit = _unit(session, application.unit_id)
    rows = session.execute(
        select(Member.id, Member.name, Member.phone)
        .join(Enrolment, Enrolment.member_id == Member.id)
        .where(Enrolment.application_id == application_id)
        .order_by(Member.id)
    )
    return {
        "unit_id": unit.id,
        "unit_name": unit.name,
        "contact_phone": unit.contact_phone,
        "members": [{"member_id": i, "name": n, "phone": p} for i, n, p in rows],
    }
