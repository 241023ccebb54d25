"""Two approvals for the same member at the same moment, on PostgreSQL with two real
connections: the member-year row lock makes the second see the first (issue 5, done-when).

Zhangjiakou's general-illness benefit is once per period. Two of the member's claims are
approved by two threads, each in its own session, released together by a barrier. Neither
commits until the other has either finished its approval too (then nothing serialised them,
and both would be approved) or is seen waiting for a lock in pg_stat_activity (then the first
commits and the second goes on with the first's amounts). Exactly one must be approved.
"""

from __future__ import annotations

import functools
import threading
import time
from datetime import date

import pytest
from sqlalchemy import text

from services.claims import accumulators
from services.claims import claims as ops
from services.claims.models import metadata
from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.outbox import record_event
from tests.claims.flow import new_claim
from tests.enrollment.samples import person

DAY = date(2024, 6, 3)
WAIT = 10  # seconds before a stuck test gives up


@pytest.fixture
def factory(postgres_url):
    engine = make_engine(postgres_url, pool_size=4)
    metadata().create_all(engine)
    yield make_session_factory(engine)
    metadata().drop_all(engine)
    engine.dispose()


def lock_waiters(factory) -> int:
    with factory() as watcher:
        return watcher.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()


def race(factory, policy, claim_ids: list[str]) -> tuple[dict[str, str], bool]:
    """Approve the claims in threads released together; (status by claim, whether one waited)."""
    barrier = threading.Barrier(len(claim_ids))
    may_commit = threading.Event()
    approved: list[str] = []
    outcome: dict[str, str] = {}
    errors: list[BaseException] = []

    def reviewer(claim_id: str) -> None:
        try:
            with session_scope(factory) as session:
                session.execute(
                    text("SELECT 1")
                )  # its connection and transaction, before the start
                barrier.wait(WAIT)
                claim = ops.approve(
                    session,
                    policy,
                    claim_id=claim_id,
                    actor=f"reviewer:{claim_id[:4]}",
                    today=DAY,
                    record=functools.partial(record_event, session),
                )
                approved.append(claim_id)
                assert may_commit.wait(WAIT), "never released"
                outcome[claim_id] = claim.status
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(i,)) for i in claim_ids]
    for t in threads:
        t.start()
    deadline, blocked = time.monotonic() + WAIT, False
    while time.monotonic() < deadline and len(approved) < len(claim_ids) and not errors:
        if len(approved) == 1 and lock_waiters(factory) >= 1:
            blocked = True
            break
        time.sleep(0.005)
    may_commit.set()
    for t in threads:
        t.join(WAIT)
    assert errors == []
    return outcome, blocked


def submitted(factory, policy, cover, member, facts_list) -> list[str]:
    with session_scope(factory) as session:
        return [
            new_claim(session, policy, cover, member, facts, year=2024, today=DAY).id
            for facts in facts_list
        ]


@pytest.mark.postgres
def test_two_concurrent_general_illness_approvals_yield_one_approval_and_one_refusal(
    factory, zhangjiakou, cover
):
    member = person(3)
    cover.enrol("zhangjiakou", 2024, member)
    ids = submitted(
        factory,
        zhangjiakou,
        cover,
        member,
        [
            {"benefit": "general_illness", "total_cost": cost, "admission_date": "2024-03-01"}
            for cost in ("8000", "9000")
        ],
    )

    outcome, blocked = race(factory, zhangjiakou, ids)

    assert blocked, "the second approval did not wait for the first"
    assert sorted(outcome.values()) == ["approved", "rejected"]
    with factory() as session:
        refused = ops.get_claim(session, next(i for i, s in outcome.items() if s == "rejected"))
        assert "每期只能申请一次" in refused.assessment["reasons"][0]
        totals = accumulators.member_totals(
            session, city="zhangjiakou", year=2024, id_number=member.id_number
        )
        assert totals["general_illness"]["claims"] == 1
        steps = ops.history(session, claim_id=refused.id)
        assert steps[-1]["to"] == "rejected" and "复核不符合补助条件" in steps[-1]["reason"]


@pytest.mark.postgres
def test_two_concurrent_approvals_share_what_is_left_of_the_cap(factory, zhangjiakou, cover):
    """24 000 of the 30 000 critical-illness cap granted: of two claims approved at once, one
    gets the 6 000 left and the other nothing — never 6 000 each."""
    member = person(4)
    cover.enrol("zhangjiakou", 2024, member)
    facts = {
        "benefit": "critical_illness",
        "total_cost": "120000",
        "disease": "白血病",
        "admission_date": "2024-03-01",
    }
    for claim_id in submitted(factory, zhangjiakou, cover, member, [facts, facts]):
        with session_scope(factory) as session:
            ops.approve(
                session,
                zhangjiakou,
                claim_id=claim_id,
                actor="reviewer",
                today=DAY,
                record=functools.partial(record_event, session),
            )
    ids = submitted(factory, zhangjiakou, cover, member, [facts, facts])

    outcome, blocked = race(factory, zhangjiakou, ids)

    assert blocked and sorted(outcome.values()) == ["approved", "rejected"]
    with factory() as session:
        totals = accumulators.member_totals(
            session, city="zhangjiakou", year=2024, id_number=member.id_number
        )
        assert totals["critical_illness"] == {
            "payable": "30000.00",
            "counted": "360000.00",
            "claims": 3,
        }
