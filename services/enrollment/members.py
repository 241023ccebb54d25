"""The members a mobile number reaches in a city: the help desk's look-up by phone (a member
calls; the help desk finds their claims through them). Listed as every list is, the ID number
masked and the phone not repeated (DESIGN.md, personal data); full phones go to notify alone
(contacts.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.enrollment.models import Enrolment, Member, Unit
from services.kernel.privacy import mask_id


def members_by_phone(session: Session, *, city: str, phone: str) -> list[dict[str, Any]]:
    """Each enrolment in ``city`` of a member whose phone is ``phone`` (as the roster
    normalised it: parse_mobile's number), the newest year first."""
    rows = session.execute(
        select(Member.id, Member.name, Member.id_number, Enrolment.year, Unit.name)
        .join(Enrolment, Enrolment.member_id == Member.id)
        .join(Unit, Enrolment.unit_id == Unit.id)
        .where(Member.phone == phone, Enrolment.city == city)
        .order_by(Enrolment.year.desc(), Member.name, Member.id)
    )
    return [
        {
            "member_id": member_id,
            "name": name,
            "id_number": mask_id(id_number),
            "unit_name": unit_name,
            "year": year,
        }
        for member_id, name, id_number, year, unit_name in rows
    ]
