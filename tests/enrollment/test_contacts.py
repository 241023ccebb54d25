"""Who notify tells (services/enrollment/contacts.py): an approved application's unit contact
and every member it enrolled, with the phones the roster gave."""

from __future__ import annotations

import pytest

from services.enrollment import applications as ops
from services.enrollment import contacts
from services.enrollment.exceptions import NotFound
from tests.enrollment.samples import person
from tests.enrollment.test_applications import (
    IN_WINDOW,
    application,
    quzhou,  # noqa: F401 (a fixture)
    record,
    roster,
    session,  # noqa: F401 (a fixture)
    unit,
)


def test_an_approved_application_names_its_unit_and_every_member(session, quzhou):  # noqa: F811
    u = unit(session, quzhou)
    u.contact_phone = "13900001111"
    app = application(session, quzhou, u, 80)
    people = [person(i) for i in range(80)]
    ops.import_roster(
        session, quzhou, application_id=app.id, data=roster(people), filename="a.xlsx", actor="c"
    )
    rec = record(session)
    ops.submit(session, quzhou, application_id=app.id, actor="c", today=IN_WINDOW, record=rec)
    ops.approve(session, quzhou, application_id=app.id, actor="reviewer:li", record=rec)

    found = contacts.notice_recipients(session, app.id)

    assert (found["unit_name"], found["contact_phone"]) == (u.name, "13900001111")
    assert sorted(m["name"] for m in found["members"]) == sorted(p.name for p in people)
    member = found["members"][0]
    assert contacts.member_contact(session, member["member_id"]) == member
    assert contacts.unit_contact(session, u.id)["contact_phone"] == "13900001111"
    with pytest.raises(NotFound):
        contacts.member_contact(session, "nobody")
