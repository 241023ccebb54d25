"""What a clerk and a reviewer do with units and group applications, on a database session.

Framework-free: each function takes a SQLAlchemy session (the caller's transaction), the
city's policy where rules are needed, and ``record`` (how an event is written to the outbox:
``WorkerOutbox.record`` inside the service, ``functools.partial(record_event, session)``
elsewhere). Nothing is published here: events are rows in the same transaction, relayed
after it commits (DESIGN.md, "Messaging"). Every state change is a row in
``application_transitions`` with who, when and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from itertools import islice
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.enrollment import events, organisations, rules
from services.enrollment.application_sheet import (
    ApplicationSheet,
    application_sheet_name,
    label_of,
    mismatch,
    read_application_sheet,
)
from services.enrollment.exceptions import Conflict, NotFound, SubmissionRefused
from services.enrollment.models import (
    Application,
    ApplicationTransition,
    Enrolment,
    Member,
    RosterLine,
    Unit,
    new_id,
)
from services.enrollment.roster import Enrolled, RosterResult, read_roster
from services.enrollment.workbook import DEFAULT_LIMITS, WorkbookLimits, open_workbook
from services.kernel import policy as kernel_policy
from services.kernel.idcard import parse_id
from services.kernel.policy import CityPolicy, RosterFormat
from services.kernel.privacy import mask_id, mask_phone
from services.messaging.bulk import any_of, insert_rows
from services.messaging.database import utc_now
from services.messaging.offload import OnHub, off_hub

Record = Callable[[str, dict[str, Any]], str]

_INSERT_BATCH = 5000  # roster lines built and inserted at a time (about 5 MB of row dicts)
EVENT_VERSION = 1


# ---- units ---------------------------------------------------------------------------


def register_unit(session: Session, policy: CityPolicy, *, year: int, **fields: Any) -> Unit:
    """Register a unit under the city's key (医保编码 / 社保编码 / 单位编码), and under its
    union (``organisation_id``, organisations.py) whose district it then is in."""
    unit_key = str(fields.pop("unit_key")).strip()
    existing = session.scalar(
        select(Unit).where(Unit.city == policy.code, Unit.unit_key == unit_key)
    )
    if existing is not None:
        raise Conflict(f"单位编码 {unit_key} 已登记为「{existing.name}」")
    district = fields.pop("district", None)
    if fields.get("organisation_id"):
        district = organisations.unit_placement(
            session,
            policy,
            year=year,
            organisation_id=fields["organisation_id"],
            district=district,
        )
    found = policy.district(year, district) if hasattr(policy, "district") else None
    unit = Unit(
        city=policy.code, unit_key=unit_key, district=found.code if found else district, **fields
    )
    session.add(unit)
    session.flush()
    return unit


def get_unit(session: Session, unit_id: str) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"没有单位 {unit_id}")
    return unit


# ---- applications --------------------------------------------------------------------


def get_application(session: Session, application_id: str, *, lock: bool = False) -> Application:
    query = select(Application).where(Application.id == application_id)
    if lock:
        query = query.with_for_update()
    application = session.scalar(query)
    if application is None:
        raise NotFound(f"没有申请 {application_id}")
    return application


def _transition(
    session: Session,
    application: Application,
    to_status: str,
    actor: str,
    reason: str | None = None,
    *,
    new: bool = False,
) -> None:
    """Record a change (or, with the same status, an edit such as a roster import)."""
    session.add(
        ApplicationTransition(
            application_id=application.id,
            from_status=None if new else application.status,
            to_status=to_status,
            actor=actor,
            reason=reason,
            at=utc_now(),
        )
    )
    application.status = to_status


def _payload(application: Application, **extra: Any) -> dict[str, Any]:
    return {
        "v": EVENT_VERSION,
        "application_id": application.id,
        "unit_id": application.unit_id,
        "city": application.city,
        "year": application.year,
        **extra,
    }


def open_application(
    session: Session,
    policy: CityPolicy,
    *,
    unit_id: str,
    year: int,
    participants: int,
    actor: str,
    staff_total: int | None = None,
    staff_insured: int | None = None,
) -> Application:
    """Start a unit's group application (团体申请表) for a scheme year, as a draft."""
    policy.period(year)  # an unknown year is refused by name
    unit = get_unit(session, unit_id)
    if unit.city != policy.code:
        raise Conflict(f"单位「{unit.name}」属于 {unit.city}，不是 {policy.code}")
    existing = session.scalar(
        select(Application).where(Application.unit_id == unit_id, Application.year == year)
    )
    if existing is not None:
        raise Conflict(f"「{unit.name}」{year} 年度已有申请（{existing.id}）")
    application = Application(
        unit_id=unit_id,
        city=policy.code,
        year=year,
        status=rules.DRAFT,
        participants=participants,
        staff_total=staff_total if staff_total is not None else unit.staff_total,
        staff_insured=staff_insured if staff_insured is not None else unit.staff_insured,
    )
    session.add(application)
    session.flush()
    _transition(session, application, rules.DRAFT, actor, "新建团体申请", new=True)
    return application


def update_application(
    session: Session, application_id: str, *, actor: str, **fields: Any
) -> Application:
    """Correct Sheet1's figures (participants, staff numbers) while the application is editable."""
    application = get_application(session, application_id, lock=True)
    rules.require_editable(application.status)
    allowed = {"participants", "staff_total", "staff_insured"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"不能修改 {', '.join(sorted(unknown))}")
    for key, value in fields.items():
        setattr(application, key, value)
    return application


def enrolled_elsewhere(
    session: Session,
    application: Application | _RosterTarget,
    *,
    include_own: bool = False,
    name_other_units: bool = False,
) -> Callable[[set[str]], dict[str, str]]:
    """The roster reader's conflict look-up: who another unit's roster already names (and,
    when adding joiners, who this roster already names), with the unit's name. Another
    unit's name only with ``name_other_units`` (issue 9: a clerk learns that the person is
    enrolled elsewhere, not where: the name is kept for a reviewer's view, Issue.other_unit)."""

    def lookup(id_numbers: set[str]) -> dict[str, Enrolled]:
        found: dict[str, Enrolled] = {}
        for among in any_of(session, RosterLine.id_number, sorted(id_numbers)):
            rows = session.execute(
                select(RosterLine.id_number, Unit.name, RosterLine.application_id)
                .join(Application, RosterLine.application_id == Application.id)
                .join(Unit, Application.unit_id == Unit.id)
                .where(
                    RosterLine.city == application.city,
                    RosterLine.year == application.year,
                    among,
                    *([] if include_own else [RosterLine.application_id != application.id]),
                )
            )
            found.update(
                {
                    number: Enrolled(
                        name, name_other_units or owner == application.id, owner == application.id
                    )
                    for number, name, owner in rows
                }
            )
        return found

    return lookup


def import_roster(
    session: Session,
    policy: CityPolicy,
    *,
    application_id: str,
    data: bytes,
    filename: str,
    actor: str,
    append: bool = False,
    progress: Callable[[int, int], None] | None = None,
    today: date | None = None,
    limits: WorkbookLimits = DEFAULT_LIMITS,
    name_other_units: bool = False,
) -> RosterResult:
    """Read, check and (only when the whole file is clean) store a roster.

    A person another unit already enrolled is an error naming that unit only with
    ``name_other_units`` (a reviewer's or the operator's view; a clerk's says "another unit").

    By default the file replaces the roster; with ``append`` its people join it (增员: the
    joiners after a carry-over), and a person already on this roster is an error too.
    A file with any error stores nothing and the result says which rows and why. ``today``
    (Asia/Shanghai, kernel/clock.py) is the day an ID's birth date must not be after.

    When the workbook's Sheet1 (申请表) declares 参加医疗互助人数 it must equal the roster's
    people (with ``append``, the roster's people after the joiners join): otherwise that is
    an error on Sheet1's cell. A clean import takes the application's participants and staff
    figures from Sheet1, recorded in the transition's reason. A count on Sheet1 that cannot
    be read is an error; an amount (交款金额, 交款总额) that cannot be read is a warning, as
    the quote sets the price.

    Transactions: reading a large workbook takes seconds, and on SQLite a writer holds the
    whole file (messaging/database.py), so the file is read and checked with no transaction
    open and stored in one short transaction that ends here. ``session``'s transaction is
    therefore committed on the way (callers start the import with nothing pending), and
    the application is checked again when storing: it may have been submitted meanwhile.
    """
    target = _RosterTarget.of(get_application(session, application_id))
    rules.require_editable(target.status)
    fmt = policy.roster_format(target.year)
    session.commit()  # nothing written: ends the read before the long part
    lookup = enrolled_elsewhere(
        session, target, include_own=append, name_other_units=name_other_units
    )

    def decode(on_hub: OnHub) -> tuple[RosterResult, ApplicationSheet | None]:
        def on_session_thread(numbers: set[str]) -> dict[str, str]:
            return on_hub(lookup, numbers)

        book = open_workbook(data, filename, limits)  # once, for both sheets
        result = read_roster(book, filename, fmt, on_session_thread, progress=progress, today=today)
        if application_sheet_name(book, fmt) in (None, result.sheet):
            return result, None
        return result, read_application_sheet(book, filename, fmt)

    # decoded in a worker thread (a running service answers others meanwhile); the parsed
    # workbook is not kept while the lines are stored
    result, form = off_hub(decode)
    session.commit()  # ends the look-up's read: the rest of the file needs no database

    application = get_application(session, application_id, lock=True)
    rules.require_editable(application.status)
    if form is not None:
        result = _with_form(session, application, result, form, append)
    if result.importable:
        if not append:
            session.execute(delete(RosterLine).where(RosterLine.application_id == application.id))
        store_lines(session, application, _lines_from(result))
        verb = "增员" if append else "导入名册"
        reason = f"{verb} {len(result.members)} 人（{filename}）"
        if form is not None and form.figures():
            reason += f"；{_take_figures(application, form, fmt)}"
        _transition(session, application, application.status, actor, reason)
    session.commit()
    return result


@dataclass(frozen=True)
class _RosterTarget:
    """What reading a roster needs of its application, held while no transaction is open."""

    id: str
    city: str
    year: int
    status: str

    @classmethod
    def of(cls, application: Application) -> _RosterTarget:
        return cls(application.id, application.city, application.year, application.status)


_FIGURES = ("participants", "staff_total", "staff_insured")  # what Sheet1 sets on the application


def _with_form(
    session: Session,
    application: Application,
    result: RosterResult,
    form: ApplicationSheet,
    append: bool,
) -> RosterResult:
    """The roster's result with Sheet1's problems added: its unreadable counts and a
    participants figure that is not the roster's (errors), its unreadable amounts (warnings)."""
    errors = list(form.issues_on(*_FIGURES))
    warnings = [i for i in form.issues if i not in errors]
    rows, detail = result.rows, ""
    if append and form.participants is not None:
        before = roster_count(session, application.id)
        rows, detail = before + result.rows, f"（原有 {before} 人，本次增员 {result.rows} 人）"
    wrong = mismatch(form, rows, detail)
    if wrong is not None:
        errors.append(wrong)
    if not errors and not warnings:
        return result
    all_errors = (*errors, *result.errors)
    return replace(
        result,
        errors=all_errors,
        warnings=(*warnings, *result.warnings),
        members=() if all_errors else result.members,
    )


def _take_figures(application: Application, form: ApplicationSheet, fmt: RosterFormat) -> str:
    """Set the application's counts to Sheet1's; say which, with the old value if it changed."""
    said = []
    for key, value in form.figures().items():
        old = getattr(application, key)
        said.append(f"{label_of(key, fmt)} {value}" + ("" if old == value else f"（原 {old}）"))
        setattr(application, key, value)
    return f"按申请表（{form.sheet}）：" + "，".join(said)


def _lines_from(result: RosterResult) -> Iterable[dict[str, Any]]:
    for m in result.members:
        yield {
            "excel_row": m.excel_row,
            "name": m.name,
            "sex": m.sex,
            "birth_date": m.birth_date,
            "id_number": m.id_number,
            "phone": m.phone,
            "extra": dict(m.fields) or None,
        }


def store_lines(
    session: Session, application: Application, lines: Iterable[Mapping[str, Any]]
) -> int:
    """Bulk-insert roster lines; a person another unit took meanwhile is a Conflict.

    A line without ``birth_date`` has it read from its ID number. The rows are built and sent
    ``_INSERT_BATCH`` at a time, so a whole roster's worth of row dicts is never held at once.
    """
    fixed = {"application_id": application.id, "city": application.city, "year": application.year}
    numbers: list[str] = []
    lines = iter(lines)
    try:
        with session.begin_nested():
            while batch := list(islice(lines, _INSERT_BATCH)):
                rows = [{"id": new_id(), **fixed, **line} for line in batch]
                for row in rows:
                    if "birth_date" not in row:
                        row["birth_date"] = parse_id(row["id_number"]).birth_date
                    numbers.append(row["id_number"])
                insert_rows(session, RosterLine.__table__, rows)
    except IntegrityError:
        # the unique (city, year, id_number) index: another clerk's import won the race
        numbers.extend(line["id_number"] for line in lines)
        taken = enrolled_elsewhere(session, application)(set(numbers))
        names = "、".join(mask_id(k) for k in sorted(taken)[:10])  # not where: issue 9
        raise Conflict(f"名册中有人已被其他单位登记: {names or '请重新导入'}") from None
    return len(numbers)


def roster_count(session: Session, application_id: str) -> int:
    return session.scalar(
        select(func.count())
        .select_from(RosterLine)
        .where(RosterLine.application_id == application_id)
    )


def quote_for(policy: CityPolicy, application: Application, unit: Unit) -> kernel_policy.Quote:
    return policy.quote(
        application.year,
        kernel_policy.Unit(
            name=unit.name,
            participants=application.participants,
            code=unit.unit_key,
            district=unit.district,
            nature=unit.nature,
            staff_total=application.staff_total,
            staff_insured=application.staff_insured,
        ),
    )


def submit(
    session: Session,
    policy: CityPolicy,
    *,
    application_id: str,
    actor: str,
    today: date,
    record: Record,
) -> Application:
    """上报: everything is checked again; the quote (price, total, routed account) is fixed."""
    application = get_application(session, application_id, lock=True)
    to_status = rules.next_status(application.status, "submit")
    unit = get_unit(session, application.unit_id)
    quote = quote_for(policy, application, unit)
    check = rules.check_submission(
        declared=application.participants,
        roster_rows=roster_count(session, application.id),
        quote=quote,
        period=policy.period(application.year),
        today=today,
    )
    if not check.ok:
        raise SubmissionRefused(check.problems)
    application.unit_price = quote.unit_price
    application.total_due = quote.total_due
    application.account_number = quote.account.number if quote.account else None
    application.quote = quote.to_dict()
    application.returned_reason = None
    _transition(session, application, to_status, actor, "上报")
    record(events.APPLICATION_SUBMITTED, _payload(application))
    return application


def return_application(
    session: Session, *, application_id: str, actor: str, reason: str, record: Record
) -> Application:
    """退回 with a reason the clerk reads; the roster stays and can be corrected."""
    application = get_application(session, application_id, lock=True)
    to_status = rules.next_status(application.status, "return")
    text = rules.require_reason(reason)
    application.returned_reason = text
    _transition(session, application, to_status, actor, text)
    record(events.APPLICATION_RETURNED, _payload(application))
    return application


def _submitter(session: Session, application_id: str) -> str | None:
    return session.scalars(
        select(ApplicationTransition.actor)
        .where(
            ApplicationTransition.application_id == application_id,
            ApplicationTransition.to_status == rules.SUBMITTED,
        )
        .order_by(ApplicationTransition.at.desc())
        .limit(1)
    ).first()


def approve(
    session: Session, policy: CityPolicy, *, application_id: str, actor: str, record: Record
) -> Application:
    """审核通过: every roster line becomes a member enrolled for the city-year."""
    application = get_application(session, application_id, lock=True)
    to_status = rules.next_status(application.status, "approve")
    rules.require_four_eyes(_submitter(session, application.id), actor)
    period = policy.period(application.year)
    lines = session.scalars(
        select(RosterLine).where(RosterLine.application_id == application.id)
    ).all()
    members = _members_for(session, lines)
    session.execute(
        insert(Enrolment),
        [
            {
                "id": new_id(),
                "member_id": members[line.id_number],
                "city": application.city,
                "year": application.year,
                "application_id": application.id,
                "unit_id": application.unit_id,
                "cover_start": period.cover_start,
                "cover_end": period.cover_end,
            }
            for line in lines
        ],
    )
    _transition(session, application, to_status, actor, "审核通过")
    record(events.APPLICATION_APPROVED, _payload(application))
    record(events.MEMBERS_ENROLLED, _payload(application, members=len(lines)))
    return application


def _members_for(session: Session, lines: list[RosterLine]) -> dict[str, str]:
    """Member ids by ID number, creating the members not yet known (names and phones refreshed)."""
    known: dict[str, Member] = {}
    numbers = sorted({line.id_number for line in lines})
    for among in any_of(session, Member.id_number, numbers):
        for member in session.scalars(select(Member).where(among)):
            known[member.id_number] = member
    new = []
    for line in lines:
        member = known.get(line.id_number)
        if member is None:
            row = {
                "id": new_id(),
                "id_number": line.id_number,
                "name": line.name,
                "sex": line.sex,
                "birth_date": line.birth_date,
                "phone": line.phone,
            }
            new.append(row)
            known[line.id_number] = Member(**row)
        else:
            member.name, member.phone = line.name, line.phone or member.phone
    if new:
        session.execute(insert(Member), new)
    return {number: member.id for number, member in known.items()}


# ---- carry-over (人员信息转入下一期) --------------------------------------------------------


@dataclass(frozen=True)
class CarryOver:
    application: Application
    carried: int
    left_out: tuple[str, ...]  # masked ID numbers another unit already named for the new year


def carry_over(
    session: Session,
    policy: CityPolicy,
    *,
    application_id: str,
    to_year: int,
    actor: str,
    leavers: Iterable[str] = (),
) -> CarryOver:
    """Start next year's application from this one's roster, without the leavers."""
    source = get_application(session, application_id)
    leaving = {parse_id(n).number for n in leavers}
    target = open_application(
        session,
        policy,
        unit_id=source.unit_id,
        year=to_year,
        participants=0,
        actor=actor,
        staff_total=source.staff_total,
        staff_insured=source.staff_insured,
    )
    target.carried_from_id = source.id
    lines = session.scalars(select(RosterLine).where(RosterLine.application_id == source.id)).all()
    staying = [line for line in lines if line.id_number not in leaving]
    taken = enrolled_elsewhere(session, target)({line.id_number for line in staying})
    carried = [
        {
            "excel_row": None,
            "name": line.name,
            "sex": line.sex,
            "id_number": line.id_number,
            "birth_date": line.birth_date,
            "phone": line.phone,
            "extra": line.extra,
        }
        for line in staying
        if line.id_number not in taken
    ]
    store_lines(session, target, carried)
    target.participants = len(carried)
    _transition(
        session,
        target,
        target.status,
        actor,
        f"由 {source.year} 年度转入 {len(carried)} 人，减员 {len(leaving)} 人",
    )
    return CarryOver(target, len(carried), tuple(sorted(mask_id(n) for n in taken)))


def remove_members(
    session: Session, *, application_id: str, id_numbers: Iterable[str], actor: str
) -> int:
    """Remove leavers from an editable application's roster."""
    application = get_application(session, application_id, lock=True)
    rules.require_editable(application.status)
    numbers = {parse_id(n).number for n in id_numbers}
    removed = session.execute(
        delete(RosterLine).where(
            RosterLine.application_id == application.id, RosterLine.id_number.in_(numbers)
        )
    ).rowcount
    _transition(session, application, application.status, actor, f"减员 {removed} 人")
    return removed


# ---- cover, for claims --------------------------------------------------------------------


def cover(session: Session, *, city: str, id_number: str, on_date: date) -> dict[str, Any] | None:
    """Is this person covered in ``city`` on ``on_date``, and through which unit and application?"""
    number = parse_id(id_number).number
    row = session.execute(
        select(Enrolment, Unit, Member)
        .join(Member, Enrolment.member_id == Member.id)
        .join(Unit, Enrolment.unit_id == Unit.id)
        .where(
            Member.id_number == number,
            Enrolment.city == city,
            Enrolment.cover_start <= on_date,
            Enrolment.cover_end >= on_date,
        )
    ).first()
    if row is None:
        return None
    enrolment, unit, member = row
    return {
        "member_id": member.id,
        "name": member.name,
        "city": city,
        "year": enrolment.year,
        "unit_id": unit.id,
        "unit_name": unit.name,
        "district": unit.district,  # a district clerk's scope over the claim (claims/access.py)
        "application_id": enrolment.application_id,
        "cover": [enrolment.cover_start.isoformat(), enrolment.cover_end.isoformat()],
    }


# ---- lists (masked) ----------------------------------------------------------------------


def list_applications(
    session: Session, *, city: str, year: int, status: str | None = None
) -> list[dict[str, Any]]:
    counts = (
        select(RosterLine.application_id, func.count().label("n"))
        .group_by(RosterLine.application_id)
        .subquery()
    )
    query = (
        select(Application, Unit.name, Unit.unit_key, func.coalesce(counts.c.n, 0))
        .join(Unit, Application.unit_id == Unit.id)
        .outerjoin(counts, counts.c.application_id == Application.id)
        .where(Application.city == city, Application.year == year)
        .order_by(Unit.name)
    )
    if status:
        query = query.where(Application.status == status)
    return [
        {
            "application_id": a.id,
            "unit": name,
            "unit_key": key,
            "unit_id": a.unit_id,
            "status": a.status,
            "participants": a.participants,
            "roster_rows": n,
            "total_due": None if a.total_due is None else f"{a.total_due:.2f}",
            "payment": payment_status(a),
            "returned_reason": a.returned_reason,
        }
        for a, name, key, n in session.execute(query)
    ]


def roster_listing(session: Session, *, application_id: str) -> list[dict[str, Any]]:
    """The roster as a list: ID numbers and phones masked (DESIGN.md, personal data)."""
    lines = session.scalars(
        select(RosterLine)
        .where(RosterLine.application_id == application_id)
        .order_by(RosterLine.excel_row, RosterLine.name)
    )
    return [
        {
            "excel_row": line.excel_row,
            "name": line.name,
            "sex": line.sex,
            "id_number": mask_id(line.id_number),
            "phone": mask_phone(line.phone) if line.phone else None,
        }
        for line in lines
    ]


def history(session: Session, *, application_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ApplicationTransition)
        .where(ApplicationTransition.application_id == application_id)
        .order_by(ApplicationTransition.at, ApplicationTransition.id)
    )
    return [
        {
            "from": t.from_status,
            "to": t.to_status,
            "actor": t.actor,
            "at": t.at.isoformat(),
            "reason": t.reason,
        }
        for t in rows
    ]


# ---- premiums (payments' premium_paid) -------------------------------------------------------


def record_premium_paid(session: Session, *, event: Mapping[str, Any], actor: str) -> None:
    """Add a premium received to its application; paid once paid in full. Recorded in the
    application's history (who: payments; why: the amount and the invoice)."""
    application = session.get(Application, event["application_id"], with_for_update=True)
    if application is None:
        raise NotFound(f"没有申请 {event['application_id']}")
    amount = event["amount"]
    application.paid_amount = (application.paid_amount or Decimal("0")) + amount
    if event["paid_in_full"] and application.paid_at is None:
        application.paid_at = utc_now()
    session.add(
        ApplicationTransition(
            application_id=application.id,
            from_status=application.status,
            to_status=application.status,
            actor=actor,
            reason=(
                f"到账 {amount:.2f} 元（缴费通知 {event['invoice_id']}），"
                + ("已缴清" if application.paid_at else "尚未缴清")
            ),
        )
    )
    session.flush()


def payment_status(application: Application) -> str:
    """paid | part_paid | unpaid, as lists and reads show it."""
    if application.paid_at is not None:
        return "paid"
    return "part_paid" if application.paid_amount else "unpaid"
