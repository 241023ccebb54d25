"""Issue 9 in the enrollment domain, without nameko: four eyes on applications (nobody
approves what they submitted, compared by the token's subject), and a roster conflict that
names the other unit only where the caller may know it."""

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


def test_a_conflict_names_the_other_unit_only_when_asked(session, quzhou):  # noqa: F811
    people = [person(i) for i in range(3)]
    first = application(session, quzhou, unit(session, quzhou, key="U1", name="甲单位工会"), 3)
    ops.import_roster(
        session, quzhou, application_id=first.id, data=roster(people), filename="a.xlsx", actor="x"
    )
    second = application(session, quzhou, unit(session, quzhou, key="U2", name="乙单位工会"), 3)

    def errors(**kwargs) -> list[str]:
        result = ops.import_roster(
            session,
            quzhou,
            application_id=second.id,
            data=roster(people),
            filename="b.xlsx",
            actor="y",
            **kwargs,
        )
        return [issue.reason for issue in result.errors]

    clerk = errors()
    assert clerk == ["此人已在其他单位报名参保，同一人同一年度只能参保一次"] * 3
    assert "甲单位" not in "".join(clerk)
    assert (
        errors(name_other_units=True)
        == ["此人已由「甲单位工会」报名参保，同一人同一年度只能参保一次"] * 3
    )
