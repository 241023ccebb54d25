"""The reviewers' queues, dated by the plugins' cadences: Wujin's inpatient claims in monthly
batches, its critical illnesses at the quarterly meeting, work injuries on receipt (10 working
days); Zhangjiakou's within 15 calendar days of a complete application, at most 20. A unit
clerk's list of the unit's claims, newest first."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from services.claims import attachments, queues
from services.claims import claims as ops
from tests.claims.flow import approve, attach_all, new_claim, record
from tests.enrollment.samples import person

TODAY = date(2024, 6, 28)  # a Friday


def test_queues_sort_claims_by_their_due_dates(session, wujin, zhangjiakou, cover):
    people = [person(i) for i in range(20, 25)]
    for who in people:
        cover.enrol("wujin", 2024, who)
        cover.enrol("zhangjiakou", 2024, who)
    stay = new_claim(
        session,
        wujin,
        cover,
        people[0],
        {"benefit": "inpatient", "self_borne": "3000", "admission_date": "2024-06-01"},
        year=2024,
        today=date(2024, 6, 10),
        not_applicable={
            "出入院记录（未使用常州医保结算的住院）": "医保结算",
            "本次住院的结算票据（未使用常州医保结算的住院）": "医保结算",
        },
    )
    in_situ = new_claim(
        session,
        wujin,
        cover,
        people[1],
        {"benefit": "carcinoma_in_situ", "diagnosis_date": "2024-05-02"},
        year=2024,
        today=date(2024, 5, 20),
    )
    injury = new_claim(
        session,
        wujin,
        cover,
        people[2],
        {"benefit": "work_injury", "grade": 7, "event_date": "2024-06-01"},
        year=2024,
        today=date(2024, 6, 21),
        not_applicable={"法定受益人共同签订的身故补助金领取声明书（工亡）": "伤残"},
    )
    general = {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-05-01"}
    late = new_claim(
        session, zhangjiakou, cover, people[3], general, year=2024, today=date(2024, 6, 1)
    )
    unpaid = new_claim(
        session, zhangjiakou, cover, people[4], general, year=2024, today=date(2024, 6, 1)
    )
    approve(session, zhangjiakou, unpaid, date(2024, 6, 5))

    assert (stay.review_due, stay.review_batch) == (date(2024, 6, 30), "2024-06")
    assert (in_situ.review_due, in_situ.review_batch) == (date(2024, 6, 30), "2024-Q2")
    assert (injury.review_due, injury.review_batch) == (date(2024, 7, 5), None)
    assert late.review_due == date(2024, 6, 16)

    wujin_queue = queues.review_queue(session, city="wujin", today=TODAY, within_days=3)
    assert [r["claim_id"] for r in wujin_queue["due_soon"]] == [
        in_situ.id,
        stay.id,
    ]  # the earlier receipt first
    assert [r["claim_id"] for r in wujin_queue["later"]] == [injury.id]
    assert wujin_queue["overdue"] == [] and wujin_queue["payment_overdue"] == []
    assert (
        wujin_queue["due_soon"][0]["days_left"] == 2
        and wujin_queue["due_soon"][0]["review_batch"] == "2024-Q2"
    )
    assert people[1].id_number not in str(wujin_queue)

    zjk_queue = queues.review_queue(session, city="zhangjiakou", today=TODAY)
    assert [(r["claim_id"], r["days_left"]) for r in zjk_queue["overdue"]] == [(late.id, -12)]
    assert [(r["claim_id"], r["due"]) for r in zjk_queue["payment_overdue"]] == [
        (unpaid.id, "2024-06-16")
    ]
    assert (
        queues.review_queue(session, city="zhangjiakou", today=date(2024, 6, 14), within_days=2)[
            "due_soon"
        ][0]["claim_id"]
        == late.id
    )
    assert queues.review_queue(session, city="zhangjiakou", today=TODAY, year=2025)["overdue"] == []

    # the notice's outer limit beside the due date: Zhangjiakou's 15 days, at most 20 (from
    # receipt, for a claim not yet decided and for one approved); Wujin's batches have none
    plugins = {"wujin": wujin, "zhangjiakou": zhangjiakou}

    def benefit_of(city, year, code):
        return next(b for b in plugins[city].benefits(year) if b.code == code)

    zjk = queues.review_queue(session, city="zhangjiakou", today=TODAY, benefit_of=benefit_of)
    assert [(r["due"], r["limit"]) for r in zjk["overdue"]] == [("2024-06-16", "2024-06-21")]
    assert [(r["due"], r["limit"]) for r in zjk["payment_overdue"]] == [
        ("2024-06-16", "2024-06-21")
    ]
    batches = queues.review_queue(session, city="wujin", today=TODAY, benefit_of=benefit_of)
    assert [r["limit"] for k in ("due_soon", "later") for r in batches[k]] == [None] * 3


def test_the_review_queue_is_paged_in_the_database_most_urgent_first(session, zhangjiakou, cover):
    """Seven submitted claims, received on different days (so due on different days): pages of
    three come back in due order, each claim once, and no page loads more than it shows."""
    from sqlalchemy import event

    people = [person(40 + i) for i in range(7)]
    general = {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-05-01"}
    received = [date(2024, 6, d) for d in (9, 2, 7, 1, 5, 3, 8)]
    for who, day in zip(people, received, strict=True):
        cover.enrol("zhangjiakou", 2024, who)
        new_claim(session, zhangjiakou, cover, who, general, year=2024, today=day)
    session.commit()
    session.expunge_all()

    loaded = []
    engine = session.get_bind()

    def rows_of(_conn, _cursor, statement, *_):
        loaded.append(statement)

    pages = []
    event.listen(engine, "before_cursor_execute", rows_of)
    try:
        for offset in (0, 3, 6):
            page = queues.review_queue(
                session, city="zhangjiakou", today=date(2024, 6, 10), limit=3, offset=offset
            )
            pages.append(
                [r["received_on"] for k in ("overdue", "due_soon", "later") for r in page[k]]
            )
    finally:
        event.remove(engine, "before_cursor_execute", rows_of)
    assert pages == [
        ["2024-06-01", "2024-06-02", "2024-06-03"],
        ["2024-06-05", "2024-06-07", "2024-06-08"],
        ["2024-06-09"],
    ]
    assert all(" LIMIT " in s for s in loaded if s.lstrip().startswith("SELECT claims."))


def test_a_unit_lists_its_own_claims_newest_first_a_page_at_a_time(session, zhangjiakou, cover):
    """Unit A's five claims (one returned, one a draft lacking two documents) and unit B's
    one: A's list holds A's only, newest first, in pages of two, each with its status in
    words, the amount as a Decimal string, the reason it came back and what it lacks."""

    def benefit_of(city, year, code):
        return next(b for b in zhangjiakou.benefits(year) if b.code == code)

    people = [person(60 + i) for i in range(6)]
    for who in people[:5]:
        cover.enrol("zhangjiakou", 2024, who, unit_id="unit-a", district="桥西区")
    cover.enrol("zhangjiakou", 2024, people[5], unit_id="unit-b", district="桥东区")
    general = {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-05-01"}
    made = [
        new_claim(session, zhangjiakou, cover, who, general, year=2024, today=date(2024, 6, 3))
        for who in people[:3] + people[5:]
    ]
    approve(session, zhangjiakou, made[0], date(2024, 6, 5))
    ops.return_claim(
        session,
        claim_id=made[1].id,
        actor="reviewer:li",
        reason="诊断证明不清晰",
        record=record(session),
    )
    # a draft of unit A (the date that counts given: cover names the unit now), two lacking
    draft = ops.create_claim(
        session,
        zhangjiakou,
        year=2024,
        id_number=people[3].id_number,
        facts=general,
        actor="王芳 (wf-1)",
        name=people[3].name,
        cover=cover,
    )
    attach_all(session, zhangjiakou, draft, skip=("身份证", "工会会员卡"))
    # a draft with no date yet: nobody's unit, its maker's only
    unplaced = ops.create_claim(
        session,
        zhangjiakou,
        year=2024,
        id_number=people[4].id_number,
        facts={"benefit": "general_illness"},
        actor="王芳 (wf-1)",
        name=people[4].name,
    )
    assert draft.unit_id == "unit-a" and unplaced.unit_id is None
    ordered = [*made, draft, unplaced]  # created one after the other: the later the newer
    for minute, claim in enumerate(ordered):
        claim.created_at = datetime(2024, 6, 3, 9, minute, tzinfo=UTC)
    session.commit()
    assert attachments.list_attachments(session, claim_id=draft.id)

    def listed(**kwargs):
        page = queues.unit_claims(
            session, city="zhangjiakou", year=2024, benefit_of=benefit_of, **kwargs
        )
        return page["claims"], page["next_offset"]

    rows, following = listed(unit_id="unit-a", owner="王芳 (wf-1)")
    assert [r["claim_id"] for r in rows] == [
        unplaced.id,
        draft.id,
        made[2].id,
        made[1].id,
        made[0].id,
    ]
    assert following is None
    by_id = {r["claim_id"]: r for r in rows}
    assert by_id[made[0].id]["status_label"] == "已审核通过待支付"
    assert Decimal(by_id[made[0].id]["payable"]) > 0 and "." in by_id[made[0].id]["payable"]
    assert by_id[made[1].id]["status_label"] == "已退回"
    assert by_id[made[1].id]["returned_reason"] == "诊断证明不清晰"
    assert by_id[made[1].id]["missing_documents"] == 0  # all there: it needs a better one
    assert by_id[draft.id]["missing_documents"] == 2
    assert by_id[made[2].id]["missing_documents"] is None  # submitted: not the clerk's to fill
    assert all(r["name"] and people[0].id_number not in str(r) for r in rows)
    assert by_id[made[0].id]["id_number"] != people[0].id_number

    # the maker's drafts follow the person (the token's subject), not another clerk
    assert unplaced.id not in [
        r["claim_id"] for r in listed(unit_id="unit-a", owner="赵六 (zl-1)")[0]
    ]
    assert unplaced.id in [
        r["claim_id"] for r in listed(unit_id="unit-a", owner="王芳芳 (wf-1)")[0]
    ]
    # unit B: its one claim; a district named keeps to it (another district's: none)
    assert [r["claim_id"] for r in listed(unit_id="unit-b")[0]] == [made[3].id]
    assert listed(unit_id="unit-b", district="桥西区")[0] == []
    assert len(listed(unit_id="unit-a", district="桥西区")[0]) == 4

    # pages of two, newest first, each claim once
    pages, offset = [], 0
    while offset is not None:
        rows, offset = listed(unit_id="unit-a", owner="王芳 (wf-1)", limit=2, offset=offset)
        pages.append([r["claim_id"] for r in rows])
    assert pages == [[unplaced.id, draft.id], [made[2].id, made[1].id], [made[0].id]]
