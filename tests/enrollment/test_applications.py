"""Units and group applications on a real database (SQLite, and PostgreSQL when marked).

The done-when of issue 4 that needs a database: a Quzhou application of 79 members for 100
insured staff cannot be submitted; 80 can, and its quote names the district's account. Also:
conflicts across units, return with a reason and resubmission, approval into enrolments and
the cover look-up, carry-over to the next year, every change recorded with who and why, and
the events written to the outbox in the same transaction.
"""

from __future__ import annotations

import functools
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from services.enrollment import applications as ops
from services.enrollment.exceptions import Conflict, SubmissionRefused, WorkflowError
from services.enrollment.models import Enrolment, RosterLine, metadata
from services.kernel.idcard import parse_id
from services.kernel.plugin import DataPolicy
from services.kernel.registry import load_registry
from services.messaging.outbox import OUTBOX
from tests.conftest import BACKENDS, service_session
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import person, quzhou_rows

IN_WINDOW = date(2024, 11, 1)  # Quzhou 2025: enrolment until 2024-11-30


@pytest.fixture(params=BACKENDS)
def session(request, tmp_path):
    yield from service_session(request, tmp_path, metadata(), "enrollment")


@pytest.fixture(scope="module")
def quzhou():
    return load_registry().get("quzhou")


def roster(people) -> bytes:
    return xlsx_bytes(
        {"Sheet1": [["衢州市在职职工医疗互助活动申请表"]], "Sheet2": quzhou_rows(people)}
    )


def unit(session, quzhou, key="33080001", name="龙游某纸业有限公司工会", insured=100):
    return ops.register_unit(
        session,
        quzhou,
        year=2025,
        unit_key=key,
        name=name,
        district="龙游县",
        nature="non_public",
        staff_total=insured + 5,
        staff_insured=insured,
    )


def application(session, quzhou, u, participants):
    return ops.open_application(
        session, quzhou, unit_id=u.id, year=2025, participants=participants, actor="clerk:wang"
    )


def events(session) -> list[tuple[str, dict]]:
    return [
        (r.event_type, r.payload) for r in session.execute(select(OUTBOX).order_by(OUTBOX.c.id))
    ]


def record(session):
    from services.messaging.outbox import record_event

    return functools.partial(record_event, session)


def test_79_of_100_cannot_be_submitted_80_can_and_names_the_district_account(session, quzhou):
    u = unit(session, quzhou)
    app = application(session, quzhou, u, participants=79)
    result = ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(i) for i in range(79)]),
        filename="龙游某纸业有限公司工会2025.xlsx",
        actor="clerk:wang",
    )
    assert result.importable and len(result.members) == 79
    with pytest.raises(SubmissionRefused) as refused:
        ops.submit(
            session,
            quzhou,
            application_id=app.id,
            actor="clerk:wang",
            today=IN_WINDOW,
            record=record(session),
        )
    assert any("79" in p and "80" in p for p in refused.value.problems)
    assert app.status == "draft"

    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(i) for i in range(80)]),
        filename="龙游某纸业有限公司工会2025.xlsx",
        actor="clerk:wang",
    )
    ops.update_application(session, app.id, actor="clerk:wang", participants=80)
    ops.submit(
        session,
        quzhou,
        application_id=app.id,
        actor="clerk:wang",
        today=IN_WINDOW,
        record=record(session),
    )
    assert app.status == "submitted"
    assert app.account_number == "338000600018170324480030"  # 龙游
    assert app.total_due == 4000  # 80 × 50
    assert app.quote["total_due_capitals"] == "肆仟元整"
    assert [e for e, _ in events(session)] == ["application_submitted"]
    assert events(session)[0][1]["application_id"] == app.id


def test_declared_participants_must_equal_the_roster(session, quzhou):
    u = unit(session, quzhou)
    app = application(session, quzhou, u, participants=90)
    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(i) for i in range(85)]),
        filename="a.xlsx",
        actor="clerk",
    )
    with pytest.raises(SubmissionRefused, match="申请表填写参加人数 90 人，名册中有 85 人"):
        ops.submit(
            session,
            quzhou,
            application_id=app.id,
            actor="clerk",
            today=IN_WINDOW,
            record=record(session),
        )


def test_submission_after_the_window_is_refused(session, quzhou):
    u = unit(session, quzhou)
    app = application(session, quzhou, u, participants=80)
    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(i) for i in range(80)]),
        filename="a.xlsx",
        actor="clerk",
    )
    with pytest.raises(SubmissionRefused, match="逾期不再受理"):
        ops.submit(
            session,
            quzhou,
            application_id=app.id,
            actor="clerk",
            today=date(2024, 12, 1),
            record=record(session),
        )


def test_a_person_on_another_units_roster_is_a_conflict_naming_that_unit(session, quzhou):
    first = unit(session, quzhou, key="A1", name="甲单位工会")
    second = unit(session, quzhou, key="B2", name="乙单位工会")
    a = application(session, quzhou, first, 80)
    b = application(session, quzhou, second, 80)
    ops.import_roster(
        session,
        quzhou,
        application_id=a.id,
        data=roster([person(i) for i in range(80)]),
        filename="a.xlsx",
        actor="clerk",
    )
    result = ops.import_roster(
        session,
        quzhou,
        application_id=b.id,
        data=roster([person(i) for i in range(79, 159)]),
        filename="b.xlsx",
        actor="clerk",
    )
    assert not result.importable
    # header on row 3; a clerk learns the person is enrolled elsewhere, not where (issue 9)
    assert [(e.row, "已在其他单位" in e.reason, "甲单位" in e.reason) for e in result.errors] == [
        (4, True, False)
    ]
    stored = session.scalars(select(RosterLine).where(RosterLine.application_id == b.id)).all()
    assert stored == []


def test_a_second_import_replaces_the_first(session, quzhou):
    app = application(session, quzhou, unit(session, quzhou), 80)
    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(i) for i in range(90)]),
        filename="a.xlsx",
        actor="clerk",
    )
    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(i) for i in range(5, 85)]),
        filename="a.xlsx",
        actor="clerk",
    )
    assert ops.roster_count(session, app.id) == 80


def test_return_with_reason_then_resubmit_then_approve_enrols_and_covers(session, quzhou):
    u = unit(session, quzhou)
    app = application(session, quzhou, u, 80)
    people = [person(i) for i in range(80)]
    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster(people),
        filename="a.xlsx",
        actor="clerk",
    )
    rec = record(session)
    ops.submit(session, quzhou, application_id=app.id, actor="clerk", today=IN_WINDOW, record=rec)
    with pytest.raises(WorkflowError, match="原因"):
        ops.return_application(
            session, application_id=app.id, actor="reviewer:li", reason=" ", record=rec
        )
    ops.return_application(
        session, application_id=app.id, actor="reviewer:li", reason="缺少盖章", record=rec
    )
    assert (app.status, app.returned_reason) == ("returned", "缺少盖章")
    with pytest.raises(WorkflowError):
        ops.approve(session, quzhou, application_id=app.id, actor="reviewer:li", record=rec)
    ops.submit(session, quzhou, application_id=app.id, actor="clerk", today=IN_WINDOW, record=rec)
    ops.approve(session, quzhou, application_id=app.id, actor="reviewer:li", record=rec)
    assert app.status == "approved"
    with pytest.raises(WorkflowError, match="不能修改名册"):
        ops.import_roster(
            session,
            quzhou,
            application_id=app.id,
            data=roster(people),
            filename="a.xlsx",
            actor="clerk",
        )

    assert (
        session.scalar(select(Enrolment).where(Enrolment.application_id == app.id).limit(1))
        is not None
    )
    covered = ops.cover(
        session, city="quzhou", id_number=people[3].id_number, on_date=date(2025, 6, 1)
    )
    assert (
        covered["unit_name"] == u.name
        and covered["application_id"] == app.id
        and covered["year"] == 2025
    )
    assert (
        ops.cover(session, city="quzhou", id_number=people[3].id_number, on_date=date(2026, 1, 1))
        is None
    )
    assert (
        ops.cover(session, city="wujin", id_number=people[3].id_number, on_date=date(2025, 6, 1))
        is None
    )
    assert (
        ops.cover(session, city="quzhou", id_number=person(500).id_number, on_date=date(2025, 6, 1))
        is None
    )

    steps = [
        (h["from"], h["to"], h["actor"], h["reason"])
        for h in ops.history(session, application_id=app.id)
    ]
    assert steps[0] == (None, "draft", "clerk:wang", "新建团体申请")
    assert ("submitted", "returned", "reviewer:li", "缺少盖章") in steps
    assert steps[-1][:3] == ("submitted", "approved", "reviewer:li")
    assert [e for e, _ in events(session)] == [
        "application_submitted",
        "application_returned",
        "application_submitted",
        "application_approved",
        "members_enrolled",
    ]
    assert events(session)[-1][1]["members"] == 80


def test_lists_mask_personal_numbers(session, quzhou):
    app = application(session, quzhou, unit(session, quzhou), 80)
    people = [person(i) for i in range(80)]
    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster(people),
        filename="a.xlsx",
        actor="clerk",
    )
    listing = ops.roster_listing(session, application_id=app.id)
    assert len(listing) == 80
    shown = " ".join(f"{row['id_number']} {row['phone']}" for row in listing)
    assert people[0].id_number not in shown and people[0].phone not in shown
    assert listing[0]["id_number"].endswith(people[0].id_number[-4:])
    summary = ops.list_applications(session, city="quzhou", year=2025)
    assert summary[0]["roster_rows"] == 80 and summary[0]["status"] == "draft"


def test_one_application_per_unit_and_year(session, quzhou):
    u = unit(session, quzhou)
    application(session, quzhou, u, 80)
    with pytest.raises(Conflict, match="已有申请"):
        application(session, quzhou, u, 80)
    with pytest.raises(Conflict, match="已登记"):
        unit(session, quzhou)


@pytest.fixture(scope="module")
def two_year_city(tmp_path_factory):
    """Zhangjiakou's 2024 rules copied as 2025, so a roster can be carried into a next year."""
    source = Path(load_registry().get("zhangjiakou").data_dir)
    target = tmp_path_factory.mktemp("two_year_city")
    shutil.copy(source / "2024.yaml", target / "2024.yaml")
    text = (source / "2024.yaml").read_text(encoding="utf-8")
    text = text.replace("year: 2024", "year: 2025").replace("2024-", "2025-")
    (target / "2025.yaml").write_text(text, encoding="utf-8")
    from mutual_aid_zhangjiakou.benefits import accident

    class TwoYearCity(DataPolicy):
        code = "zhangjiakou"
        name = "张家口市"
        kinds = {"accident": accident}

    return TwoYearCity(data_dir=target)


def test_carry_over_to_the_next_year_without_leavers(session, two_year_city):
    zjk = two_year_city
    u = ops.register_unit(
        session, zjk, year=2024, unit_key="cs002", name="测试单位", staff_total=10, staff_insured=10
    )
    app = ops.open_application(
        session, zjk, unit_id=u.id, year=2024, participants=10, actor="clerk"
    )
    people = [person(i) for i in range(10)]
    rows = [
        ["张家口市职工医疗互助活动人员名册"],
        ["序号", "姓名", "性别", "身份证号", "是否享受医保", "备注", "联系电话"],
    ]
    rows += [
        [i + 1, p.name, p.sex, p.id_number, "是", "在职", p.phone] for i, p in enumerate(people)
    ]
    result = ops.import_roster(
        session,
        zjk,
        application_id=app.id,
        data=xlsx_bytes({"人员名册": rows}),
        filename="cs002.xlsx",
        actor="clerk",
    )
    assert result.importable, result.errors
    other = ops.register_unit(
        session, zjk, year=2025, unit_key="cs003", name="另一单位", staff_total=1, staff_insured=1
    )
    taken = ops.open_application(
        session, zjk, unit_id=other.id, year=2025, participants=1, actor="clerk"
    )
    ops.store_lines(
        session,
        taken,
        [
            {
                "excel_row": 3,
                "name": people[9].name,
                "sex": "male" if int(people[9].id_number[16]) % 2 else "female",
                "id_number": people[9].id_number,
                "phone": None,
                "extra": None,
            }
        ],
    )

    moved = ops.carry_over(
        session,
        zjk,
        application_id=app.id,
        to_year=2025,
        actor="clerk",
        leavers=[people[0].id_number, people[1].id_number],
    )
    assert moved.carried == 7  # 10 − 2 leavers − 1 already named by another unit for 2025
    assert moved.left_out == (ops.mask_id(people[9].id_number),)
    assert moved.application.year == 2025 and moved.application.participants == 7
    assert moved.application.carried_from_id == app.id
    names = {r["name"] for r in ops.roster_listing(session, application_id=moved.application.id)}
    assert people[0].name not in names and people[2].name in names
    assert ops.roster_count(session, app.id) == 10  # last year's roster is untouched


def test_done_when_four_faults_import_nothing_and_name_exactly_those_rows(
    session, two_year_city, template_roster, five_hundred, faulty_roster
):
    """Issue 4: a template roster of 500 valid rows imports; the same with one numeric ID, one
    bad check digit, one duplicate and one person another unit already enrolled imports
    nothing and names exactly those four rows — the conflict found in the database."""
    zjk = two_year_city
    other = ops.register_unit(
        session,
        zjk,
        year=2024,
        unit_key="zjk-1",
        name="另一单位工会",
        staff_total=1,
        staff_insured=1,
    )
    taken = ops.open_application(
        session, zjk, unit_id=other.id, year=2024, participants=1, actor="clerk"
    )
    enrolled = next(p for p in five_hundred if p.id_number == faulty_roster.enrolled_id)
    ops.store_lines(
        session,
        taken,
        [
            {
                "excel_row": 4,
                "name": enrolled.name,
                "sex": "male" if enrolled.sex == "男" else "female",
                "id_number": enrolled.id_number,
                "phone": None,
                "extra": None,
            }
        ],
    )

    u = ops.register_unit(
        session,
        zjk,
        year=2024,
        unit_key="zjk-2",
        name="本单位工会",
        staff_total=600,
        staff_insured=600,
    )
    app = ops.open_application(
        session, zjk, unit_id=u.id, year=2024, participants=500, actor="clerk"
    )
    result = ops.import_roster(
        session,
        zjk,
        application_id=app.id,
        data=faulty_roster.data,
        filename="本单位工会2024.xlsx",
        actor="clerk",
    )
    assert sorted(e.row for e in result.errors) == sorted(
        [
            faulty_roster.numeric_row,
            faulty_roster.check_digit_row,
            faulty_roster.duplicate_row,
            faulty_roster.enrolled_row,
        ]
    )
    assert any(
        "已在其他单位" in e.reason for e in result.errors if e.row == faulty_roster.enrolled_row
    )
    assert ops.roster_count(session, app.id) == 0

    clean = template_roster.build(
        [p for p in five_hundred if p.id_number != enrolled.id_number][:499]
    )
    result = ops.import_roster(
        session,
        zjk,
        application_id=app.id,
        data=clean,
        filename="本单位工会2024.xlsx",
        actor="clerk",
    )
    assert result.importable and ops.roster_count(session, app.id) == 499


def test_joiners_are_appended_and_someone_already_listed_is_refused(session, quzhou):
    app = application(session, quzhou, unit(session, quzhou), 82)
    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(i) for i in range(80)]),
        filename="a.xlsx",
        actor="clerk",
    )
    joiners = ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(200), person(201)]),
        filename="增员.xlsx",
        actor="clerk",
        append=True,
    )
    assert joiners.importable and ops.roster_count(session, app.id) == 82
    again = ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster([person(5), person(202)]),
        filename="增员2.xlsx",
        actor="clerk",
        append=True,
    )
    assert [e.row for e in again.errors] == [4] and ops.roster_count(session, app.id) == 82


def test_imported_lines_carry_the_birth_date_read_from_the_id(session, quzhou):
    app = application(session, quzhou, unit(session, quzhou), 3)
    people = [person(i) for i in (0, 7001, 17999)]
    ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=roster(people),
        filename="a.xlsx",
        actor="clerk",
    )
    lines = session.scalars(select(RosterLine).where(RosterLine.application_id == app.id)).all()
    assert {line.id_number: line.birth_date for line in lines} == {
        p.id_number: parse_id(p.id_number).birth_date for p in people
    }


def test_a_person_another_import_stored_meanwhile_is_a_conflict_and_nothing_is_stored(
    session, quzhou
):
    """The roster check found nobody elsewhere, then another clerk's import stored one of them
    first: the unique index refuses the whole batch, on SQLite and through PostgreSQL's COPY."""
    first = application(session, quzhou, unit(session, quzhou), 1)
    second = application(
        session, quzhou, unit(session, quzhou, key="33080002", name="衢州某厂工会"), 3
    )
    people = [person(i) for i in range(3)]

    def line(p):
        return {
            "excel_row": 4,
            "name": p.name,
            "sex": "male" if p.sex == "男" else "female",
            "id_number": p.id_number,
            "phone": p.phone,
            "extra": None,
        }

    ops.store_lines(session, first, [line(people[2])])
    with pytest.raises(Conflict, match=re.escape(ops.mask_id(people[2].id_number))) as conflict:
        ops.store_lines(session, second, [line(p) for p in people])
    assert "龙游某纸业有限公司工会" not in str(conflict.value)  # not where (issue 9)
    assert ops.roster_count(session, second.id) == 0 and ops.roster_count(session, first.id) == 1
