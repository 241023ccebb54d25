"""Issue 8's done-when for events that fail: payments' results reach the claims service even
while its database is away, a malformed one is parked with its reason, and a parked one an
operator replays is applied once.

The claims service runs on its own PostgreSQL database (migrated by Alembic, as deployed) and
the local RabbitMQ (nameko's `container_factory` in its own vhost); payments is a standalone
dispatcher. The database is refused for real: `ALLOW_CONNECTIONS false` and its sessions
terminated, then allowed again 10 s later.
"""

from __future__ import annotations

from datetime import date

import eventlet
import psycopg
import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from services.claims import migrations
from services.claims.models import Claim, LedgerEntry
from services.claims.service import ClaimsService
from services.messaging.database import make_engine, make_session_factory
from services.messaging.dead_letters import DEAD_LETTERS, PARKED, REPLAYED
from tests.claims.flow import approve, new_claim
from tests.conftest import ADMIN_URL
from tests.enrollment.samples import person

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]

MEMBER = person(11)
DAY = date(2024, 6, 10)
SETTLED = {
    "出入院记录（未使用常州医保结算的住院）": "已使用常州医保结算",
    "本次住院的结算票据（未使用常州医保结算的住院）": "已使用常州医保结算",
}
OUTAGE = 10  # seconds


@pytest.fixture
def claims_db(fresh_postgres):
    migrations.upgrade(fresh_postgres)
    engine = make_engine(fresh_postgres, pool_size=2)
    yield fresh_postgres, make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def claims(container_factory, rabbit_config, web_config, claims_db):
    url, _ = claims_db

    def start(**settings):
        config = {**rabbit_config, **web_config, "DATABASES": {"claims": url}, **settings}
        container = container_factory(ClaimsService, config)
        container.start()
        return container, config

    return start


def wujin_claim(factory, wujin, cover, *, approved: bool = True) -> Claim:
    cover.enrol("wujin", 2024, MEMBER)
    facts = {"benefit": "inpatient", "self_borne": "6000", "admission_date": "2024-04-01"}
    with factory.begin() as session:
        claim = new_claim(
            session, wujin, cover, MEMBER, facts, year=2024, today=DAY, not_applicable=SETTLED
        )
        if approved:
            approve(session, wujin, claim, DAY)
    return claim


def payout(claim, event_id: str, amount: str = "1000.00") -> dict:
    return {
        "v": 1,
        "event_id": event_id,
        "claim_id": claim.id,
        "payout_id": "P-1",
        "amount": amount,
        "paid_on": "2024-06-20",
    }


def refuse_connections(url: str, allowed: bool) -> None:
    """The claims database stops (or starts again) taking connections; its sessions end."""
    name = make_url(url).database
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def handled(event_id: str, *, failures: int = 0):
    """An entrypoint_waiter callback: done when the event `event_id` has been handled, or (with
    `failures`) when its handler failed that many times."""
    seen = []

    def callback(worker_ctx, result, exc_info):
        if worker_ctx.args[0].get("event_id") != event_id:
            return False
        if not failures:
            return exc_info is None
        seen.append(exc_info)
        return len(seen) == failures and exc_info is not None

    return callback


def paid_entries(factory, claim) -> list:
    with factory() as session:
        return session.scalars(
            select(LedgerEntry.amount)
            .where(LedgerEntry.claim_id == claim.id)
            .where(LedgerEntry.kind == "paid")
        ).all()


def test_a_payout_sent_while_the_database_is_refused_is_applied_once_after_it_returns(
    claims, claims_db, wujin, cover
):
    url, factory = claims_db
    claim = wujin_claim(factory, wujin, cover)
    container, config = claims()  # the default EVENT_RETRY_DELAYS: 1, 2, 4, 8, 16 s
    dispatch = event_dispatcher(config)

    refuse_connections(url, allowed=False)
    try:
        with (
            entrypoint_waiter(
                container, "on_payout_succeeded", callback=handled("good"), timeout=45
            ),
            entrypoint_waiter(
                container, "on_payout_succeeded", callback=handled("bad", failures=2), timeout=45
            ),
        ):
            dispatch("payments", "payout_succeeded", payout(claim, "good"))
            dispatch("payments", "payout_succeeded", payout(claim, "bad", amount="1e3"))
            eventlet.sleep(OUTAGE)  # the outage itself: nothing is waited for here
            refuse_connections(url, allowed=True)
    finally:
        refuse_connections(url, allowed=True)

    with factory() as session:
        assert session.get(Claim, claim.id).status == "paid"
        (letter,) = session.execute(select(DEAD_LETTERS)).all()
    assert paid_entries(factory, claim) == [claim.payable]  # one ledger entry, 1000.00
    assert (letter.event_id, letter.status, letter.consumer) == (
        "bad",
        PARKED,
        "claims.on_payout_succeeded",
    )
    assert letter.reason.startswith("payout_succeeded 有误: amount: 应为两位小数的金额文字")
    assert "'1e3'" in letter.reason


def test_a_parked_payout_replayed_by_an_operator_is_applied_once(
    claims, claims_db, wujin, cover, mutual_aid
):
    url, factory = claims_db
    claim = wujin_claim(factory, wujin, cover, approved=False)  # payments is early: submitted
    container, config = claims(EVENT_RETRY_DELAYS=[0.2, 0.4], EVENT_REPLAY_INTERVAL=0.2)

    with entrypoint_waiter(container, "on_payout_succeeded", callback=handled("e1", failures=3)):
        event_dispatcher(config)("payments", "payout_succeeded", payout(claim, "e1"))
    listed = mutual_aid("events", "dead-letters", "--service", "claims", "--db", url).json()
    (letter,) = listed["dead_letters"]
    assert (
        letter["reason"] == "WorkflowError: 已提交待审核的申请不能记为已支付"
        and letter["attempts"] == 3
    )

    with factory.begin() as session:
        approve(session, wujin, session.get(Claim, claim.id), DAY)
    with entrypoint_waiter(container, "on_payout_succeeded", callback=handled("e1")):
        replay = ("events", "replay", str(letter["id"]), "--service", "claims", "--db", url)
        assert mutual_aid(*replay, "--actor", "运维 张").code == 0

    assert paid_entries(factory, claim) == [claim.payable]
    every = mutual_aid("events", "dead-letters", "--service", "claims", "--db", url, "--all")
    (replayed,) = every.json()["dead_letters"]
    assert (replayed["status"], replayed["replay_requested_by"]) == (REPLAYED, "运维 张")
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 2  # payable, paid
