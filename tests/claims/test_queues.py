"""The reviewers' queues, dated by the plugins' cadences: Wujin's inpatient claims in monthly
batches, its critical illnesses at the quarterly meeting, work injuries on receipt (10 working
days); Zhangjiakou's within 15 calendar days of a complete application, at most 20."""

from __future__ import annotations

from datetime import date

from services.claims import queues
from tests.claims.flow import approve, new_claim
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
