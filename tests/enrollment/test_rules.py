"""Four eyes on applications (issue 9): nobody approves what they submitted, compared by the
token's subject; the rule in the domain, without nameko."""

from __future__ import annotations

import pytest

from services.enrollment import applications as ops
from services.enrollment import rules
from services.enrollment.exceptions import WorkflowError
from tests.enrollment.samples import person
from tests.enrollment.test_applications import (
    IN_WINDOW,
    application,
    quzhou,  # noqa: F401  (the fixture)
    record,
    roster,
    session,  # noqa: F401  (the fixture, both backends)
    unit,
)


def test_the_submitter_may_not_approve_whatever_name_they_carry():
    with pytest.raises(WorkflowError, match="不能审核自己上报的申请"):
        rules.require_four_eyes("王芳 (sub-1)", "Wang Fang (sub-1)")
    rules.require_four_eyes("王芳 (sub-1)", "王芳 (sub-2)")  # two people of one name
    rules.require_four_eyes(None, "王芳 (sub-2)")  # never submitted: the workflow refuses


def test_an_application_approved_by_its_submitter_is_refused_and_by_another_enrols(
    session,  # noqa: F811
    quzhou,  # noqa: F811
):
    app = application(session, quzhou, unit(session, quzhou), 80)
    people = [person(i) for i in range(80)]
    ops.import_roster(
        session, quzhou, application_id=app.id, data=roster(people), filename="a.xlsx", actor="x"
    )
    rec = record(session)
    clerk = "王芳 (kc-7)"
    ops.submit(session, quzhou, application_id=app.id, actor=clerk, today=IN_WINDOW, record=rec)
    with pytest.raises(WorkflowError, match="不能审核自己上报的申请"):
        ops.approve(session, quzhou, application_id=app.id, actor="王芳 (kc-7)", record=rec)
    assert app.status == "submitted"
    ops.approve(session, quzhou, application_id=app.id, actor="李审 (kc-9)", record=rec)
    assert app.status == "approved"
