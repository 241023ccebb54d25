import eventlet
import pytest
from sqlalchemy import text

from services.messaging.database import read_scope, session_scope
from services.messaging.idempotency import first_time, handled_before

CONSUMER = "payments.on_claim_approved"


def on_claim_approved(session_factory, event):
    """A handler written the way services write them."""
    with session_scope(session_factory) as session:
        if not first_time(session, CONSUMER, event["event_id"]):
            return False
        session.execute(
            text("INSERT INTO payouts (claim_id) VALUES (:claim_id)"),
            {"claim_id": event["claim_id"]},
        )
        return True


def payouts(session_factory):
    with session_scope(session_factory) as session:
        return list(session.scalars(text("SELECT claim_id FROM payouts ORDER BY id")))


def test_the_same_event_twice_changes_things_once(session_factory):
    event = {"v": 1, "claim_id": "c1", "event_id": "e1"}
    assert on_claim_approved(session_factory, event) is True
    assert on_claim_approved(session_factory, dict(event)) is False
    assert payouts(session_factory) == ["c1"]
    assert on_claim_approved(session_factory, {"v": 1, "claim_id": "c2", "event_id": "e2"}) is True
    assert payouts(session_factory) == ["c1", "c2"]


def test_handled_before_reads_what_first_time_recorded(session_factory):
    with read_scope(session_factory) as reading:
        assert not handled_before(reading, CONSUMER, "e1")
    assert on_claim_approved(session_factory, {"v": 1, "claim_id": "c1", "event_id": "e1"})
    with read_scope(session_factory) as reading:
        assert handled_before(reading, CONSUMER, "e1")
        assert not handled_before(reading, "notify.on_claim_approved", "e1")
        assert not handled_before(reading, CONSUMER, "e2")


def test_consumers_keep_separate_records(session_factory):
    with session_scope(session_factory) as session:
        assert first_time(session, "payments.on_claim_approved", "e1")
        assert first_time(session, "notify.on_claim_approved", "e1")
        assert not first_time(session, "notify.on_claim_approved", "e1")


def test_a_handler_that_failed_has_not_used_up_the_event(session_factory):
    with pytest.raises(RuntimeError), session_scope(session_factory) as session:
        assert first_time(session, CONSUMER, "e1")
        raise RuntimeError("the change failed: the event comes again")
    assert on_claim_approved(session_factory, {"v": 1, "claim_id": "c1", "event_id": "e1"})
    assert payouts(session_factory) == ["c1"]


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_two_deliveries_at_once_on_postgres_change_things_once(session_factory):
    first = session_factory()
    assert first_time(first, CONSUMER, "e1")  # not committed yet

    def second_delivery():
        with session_scope(session_factory) as session:
            return first_time(session, CONSUMER, "e1")

    racer = eventlet.spawn(second_delivery)
    eventlet.sleep(0.2)  # the second insert now waits on the first transaction's key
    assert not racer.dead
    first.commit()
    first.close()
    with eventlet.Timeout(5):
        assert racer.wait() is False
