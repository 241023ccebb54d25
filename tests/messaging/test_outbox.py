import uuid

import pytest
from sqlalchemy import select, text

from services.messaging.database import session_scope
from services.messaging.errors import EventPayloadError
from services.messaging.outbox import (
    OUTBOX,
    RELAY_LOCK_NAME,
    PartlyPublished,
    call_after_commit_with_events,
    check_event,
    new_event_id,
    record_event,
    relay_pending,
)


class Broker:
    """A publish function that keeps what it was given, and can be told to fail."""

    def __init__(self, fail_on=()):
        self.received = []
        self.fail_on = set(fail_on)

    def __call__(self, event):
        if event.body.get("claim_id") in self.fail_on:
            raise ConnectionError("broker away")
        self.received.append(event)

    def claims(self):
        return [event.body["claim_id"] for event in self.received]


def record(session_factory, *claim_ids):
    with session_scope(session_factory) as session:
        return [
            record_event(session, "claim_approved", {"v": 1, "claim_id": claim_id})
            for claim_id in claim_ids
        ]


def rows(session_factory):
    with session_scope(session_factory) as session:
        return {row.payload["claim_id"]: row for row in session.execute(select(OUTBOX))}


@pytest.mark.parametrize(
    "event_type, payload, fragment",
    [
        ("ClaimApproved", {"v": 1, "claim_id": "c"}, "snake_case"),
        ("claim_approved", ["c"], "must be a dict"),
        ("claim_approved", {"claim_id": "c"}, "'v', its version"),
        ("claim_approved", {"v": "1", "claim_id": "c"}, "'v', its version"),
        ("claim_approved", {"v": True, "claim_id": "c"}, "'v', its version"),
        ("claim_approved", {"v": 1, "amount": "10.00"}, "names no id"),
        ("claim_approved", {"v": 1, "claim_id": "c", "event_id": "x"}, "added by the outbox"),
        ("claim_approved", {"v": 1, "claim_id": "c", "amount": 10.5}, "float"),
        ("claim_approved", {"v": 1, "claim_id": "c", "claim": {"cost": "1"}}, "asked for by RPC"),
        ("claim_approved", {"v": 1, "claim_id": "c", "note": "x" * 3000}, "more than 2048"),
    ],
)
def test_payloads_that_are_not_small_versioned_ids_are_refused(event_type, payload, fragment):
    with pytest.raises(EventPayloadError, match=fragment):
        check_event(event_type, payload)


def test_a_small_versioned_payload_passes():
    check_event(
        "members_enrolled",
        {
            "v": 2,
            "application_id": "a",
            "member_ids": ["m1", "m2"],
            "amount": "120.00",
            "count": 2,
            "final": True,
            "note": None,
        },
    )


def test_events_are_relayed_in_order_with_their_ids_and_marked_published(session_factory):
    first = record(session_factory, "c1", "c2")
    second = record(session_factory, "c3")
    broker = Broker()

    assert relay_pending(session_factory, broker) == 3

    assert broker.claims() == ["c1", "c2", "c3"]
    assert [event.id for event in broker.received] == first + second
    assert broker.received[0].event_type == "claim_approved"
    assert broker.received[0].body == {"v": 1, "claim_id": "c1", "event_id": first[0]}
    for row in rows(session_factory).values():
        assert row.published_at is not None and row.published_at.tzinfo is not None
        assert row.attempts == 1 and row.last_error is None
    assert relay_pending(session_factory, broker) == 0
    assert len(broker.received) == 3


def test_an_event_whose_transaction_rolls_back_is_never_published(session_factory):
    with pytest.raises(RuntimeError), session_scope(session_factory) as session:
        record_event(session, "claim_approved", {"v": 1, "claim_id": "c1"})
        raise RuntimeError("the change failed")
    broker = Broker()
    assert relay_pending(session_factory, broker) == 0
    assert broker.received == [] and rows(session_factory) == {}


def test_a_failed_publish_keeps_the_event_for_the_next_run(session_factory):
    record(session_factory, "c1", "c2", "c3")
    down = Broker(fail_on={"c2"})

    assert relay_pending(session_factory, down) == 1

    assert down.claims() == ["c1"]  # c3 does not overtake c2
    kept = rows(session_factory)
    assert kept["c1"].published_at is not None
    assert kept["c2"].published_at is None
    assert kept["c2"].attempts == 1 and kept["c2"].last_error == "ConnectionError: broker away"
    assert kept["c3"].published_at is None and kept["c3"].attempts == 0

    up = Broker()
    assert relay_pending(session_factory, up) == 2
    assert up.claims() == ["c2", "c3"]
    assert all(row.published_at is not None for row in rows(session_factory).values())


def test_a_run_publishes_at_most_one_batch(session_factory):
    record(session_factory, *(f"c{i}" for i in range(5)))
    broker = Broker()
    assert relay_pending(session_factory, broker, batch=2) == 2
    assert relay_pending(session_factory, broker, batch=2) == 2
    assert relay_pending(session_factory, broker, batch=2) == 1
    assert broker.claims() == [f"c{i}" for i in range(5)]


def test_only_commits_that_recorded_events_call_back(session_factory):
    calls = []
    call_after_commit_with_events(session_factory, lambda: calls.append("relay"))
    with session_scope(session_factory) as session:
        session.execute(text("INSERT INTO members (id) VALUES ('m1')"))
    assert calls == []
    record(session_factory, "c1")
    assert calls == ["relay"]


def test_event_ids_are_uuid7_and_strictly_increasing():
    ids = [new_event_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid.UUID(event_id).version for event_id in ids} == {7}


def test_an_unreachable_broker_leaves_the_events_in_the_outbox(session_factory):
    from services.messaging.publishing import event_publisher

    record(session_factory, "c1")
    unreachable = event_publisher({"AMQP_URI": "pyamqp://guest:guest@127.0.0.1:1/"}, "claims")
    assert relay_pending(session_factory, unreachable) == 0
    row = rows(session_factory)["c1"]
    assert row.published_at is None and row.attempts == 1
    assert "ECONNREFUSED" in row.last_error or "refused" in row.last_error.lower()


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_one_relay_at_a_time_per_postgres_database(session_factory):
    record(session_factory, "c1")
    other_process = session_factory()
    other_process.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:name || current_schema(), 0))"),
        {"name": RELAY_LOCK_NAME},
    )
    broker = Broker()
    assert relay_pending(session_factory, broker) == 0  # the other relay keeps the order
    other_process.rollback()
    other_process.close()
    assert relay_pending(session_factory, broker) == 1


# -- issue 14: one UPDATE a run, and history that does not grow for ever -----------------------


def test_a_run_marks_its_events_in_one_statement(session_factory):
    from sqlalchemy import event

    record(session_factory, *(f"c{i}" for i in range(5)))
    updates = []

    def seen(_conn, _cursor, statement, *_):
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    engine = session_factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert relay_pending(session_factory, Broker()) == 5
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(updates) == 1
    assert all(row.published_at is not None for row in rows(session_factory).values())


def test_history_older_than_the_age_is_purged_and_nothing_else(session_factory):
    from datetime import timedelta

    from services.messaging.database import utc_now
    from services.messaging.idempotency import PROCESSED_EVENTS
    from services.messaging.outbox import purge_history

    record(session_factory, "old", "recent", "unsent")
    relay_pending(session_factory, Broker(fail_on={"unsent"}))
    now = utc_now()
    with session_scope(session_factory) as session:
        ids = {r.payload["claim_id"]: r.id for r in session.execute(select(OUTBOX))}
        session.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id == ids["old"])
            .values(published_at=now - timedelta(days=40))
        )
        session.execute(  # unsent for 40 days: still never deleted
            OUTBOX.update()
            .where(OUTBOX.c.id == ids["unsent"])
            .values(created_at=now - timedelta(days=40))
        )
        session.execute(
            PROCESSED_EVENTS.insert(),
            [
                {
                    "consumer": "c.on_x",
                    "event_id": "e-old",
                    "processed_at": now - timedelta(days=40),
                },
                {
                    "consumer": "c.on_x",
                    "event_id": "e-new",
                    "processed_at": now - timedelta(days=1),
                },
            ],
        )

    assert purge_history(session_factory, now - timedelta(days=30), processed_events=True) == (1, 1)

    assert set(rows(session_factory)) == {"recent", "unsent"}
    with session_scope(session_factory) as session:
        assert [r.event_id for r in session.execute(select(PROCESSED_EVENTS))] == ["e-new"]
    assert purge_history(session_factory, now - timedelta(days=30), processed_events=True) == (0, 0)


class BatchBroker:
    """A publisher with `many`: takes the whole batch at once; the broker confirms only the
    first ``confirms`` of it when told to."""

    def __init__(self, confirms=None):
        self.batches = []
        self.confirms = confirms

    def __call__(self, event):
        raise AssertionError("a publisher with many() gets the batch, not one event at a time")

    def many(self, events):
        self.batches.append([event.body["claim_id"] for event in events])
        if self.confirms is not None:
            raise PartlyPublished(self.confirms, ConnectionError("broker away"))


def test_a_batch_publisher_gets_the_whole_batch_and_only_confirmed_rows_are_marked(
    session_factory,
):
    """Issue 14: the relay hands a publisher with `many` the batch (its confirms pipelined);
    of a batch the broker confirmed only in part, the confirmed first rows are marked, the
    first unconfirmed one carries the error and the rest wait, in order."""
    record(session_factory, "c1", "c2", "c3", "c4")
    partly = BatchBroker(confirms=2)
    assert relay_pending(session_factory, partly) == 2
    assert partly.batches == [["c1", "c2", "c3", "c4"]]
    kept = rows(session_factory)
    assert kept["c1"].published_at is not None and kept["c2"].published_at is not None
    assert kept["c3"].published_at is None
    assert kept["c3"].attempts == 1 and kept["c3"].last_error == "ConnectionError: broker away"
    assert kept["c4"].published_at is None and kept["c4"].attempts == 0

    up = BatchBroker()
    assert relay_pending(session_factory, up) == 2
    assert up.batches == [["c3", "c4"]]
    assert all(row.published_at is not None for row in rows(session_factory).values())


class PipelinedBroker:
    """A publisher with ``send``: records each send and wait, and can refuse a batch (its
    number) after confirming its first ``confirms`` events."""

    def __init__(self, refuse=None, confirms=0):
        self.steps = []
        self.refuse, self.confirms = refuse, confirms

    def __call__(self, event):
        raise AssertionError("a publisher with send() gets the batch, not one event at a time")

    def many(self, events):
        raise AssertionError("a pipelined run sends, then waits")

    def send(self, events):
        number = len([s for s in self.steps if s[0] == "send"]) + 1
        self.steps.append(("send", number, [event.body["claim_id"] for event in events]))
        broker = self

        class Sent:
            def wait(self):
                broker.steps.append(("wait", number))
                if number == broker.refuse:
                    raise PartlyPublished(broker.confirms, ConnectionError("broker away"))

        return Sent()


@pytest.fixture
def marks(monkeypatch):
    """Each batch's marking, as ("mark", confirmed claims), into the broker's steps."""
    from services.messaging import outbox

    real_mark = outbox._mark

    def install(broker):
        def mark(session, rows, confirmed, failed):
            broker.steps.append(("mark", [r.payload["claim_id"] for r in rows[:confirmed]]))
            real_mark(session, rows, confirmed, failed)

        monkeypatch.setattr(outbox, "_mark", mark)
        return broker

    return install


def test_a_pipelined_run_marks_each_batch_after_its_confirm_while_the_next_is_out(
    session_factory, marks
):
    """Issue 14: with ``send``, batch k+1 goes out once batch k is confirmed and before k is
    marked (the UPDATE overlaps the broker's confirming); each row is sent once, in order,
    and marked only after its confirm."""
    record(session_factory, "c1", "c2", "c3", "c4", "c5")
    broker = marks(PipelinedBroker())
    assert relay_pending(session_factory, broker, batch=2, batches=10) == 5
    assert broker.steps == [
        ("send", 1, ["c1", "c2"]),
        ("wait", 1),
        ("send", 2, ["c3", "c4"]),
        ("mark", ["c1", "c2"]),
        ("wait", 2),
        ("send", 3, ["c5"]),
        ("mark", ["c3", "c4"]),
        ("wait", 3),
        ("mark", ["c5"]),
    ]
    assert all(row.published_at is not None for row in rows(session_factory).values())
    assert relay_pending(session_factory, broker, batch=2, batches=10) == 0


def test_a_run_stops_at_its_batches_and_the_next_run_goes_on(session_factory):
    record(session_factory, "c1", "c2", "c3", "c4", "c5")
    broker = PipelinedBroker()
    assert relay_pending(session_factory, broker, batch=2, batches=2) == 4
    assert [s[2] for s in broker.steps if s[0] == "send"] == [["c1", "c2"], ["c3", "c4"]]
    assert relay_pending(session_factory, broker, batch=2, batches=2) == 1
    assert broker.steps[-2:] == [("send", 3, ["c5"]), ("wait", 3)]


def test_a_batch_confirmed_in_part_ends_the_pipelined_run(session_factory):
    """Batch 2 is refused after its first event: batch 1 and c3 are marked, c4 carries the
    error, batch 3 (already read) is not sent; the next run starts from c4."""
    record(session_factory, "c1", "c2", "c3", "c4", "c5", "c6")
    broker = PipelinedBroker(refuse=2, confirms=1)
    assert relay_pending(session_factory, broker, batch=2, batches=10) == 3
    assert [s for s in broker.steps if s[0] == "send"] == [
        ("send", 1, ["c1", "c2"]),
        ("send", 2, ["c3", "c4"]),
    ]
    kept = rows(session_factory)
    assert [c for c in sorted(kept) if kept[c].published_at is not None] == ["c1", "c2", "c3"]
    assert kept["c4"].attempts == 1 and kept["c4"].last_error == "ConnectionError: broker away"
    assert kept["c5"].attempts == 0 and kept["c6"].attempts == 0
    again = PipelinedBroker()
    assert relay_pending(session_factory, again, batch=2, batches=10) == 3
    assert [s[2] for s in again.steps if s[0] == "send"] == [["c4", "c5"], ["c6"]]


def test_when_marking_fails_the_sent_batch_is_still_awaited_and_nothing_is_marked(
    session_factory, monkeypatch
):
    """A failure between a send and its wait (the database gone while marking) still awaits
    the batch (the publisher's lock is released), and the run's marks roll back together:
    those events are published again by the next run (at least once)."""
    from services.messaging import outbox

    record(session_factory, "c1", "c2", "c3")
    broker = PipelinedBroker()
    real_mark = outbox._mark

    def failing(session, rows, confirmed, failed):
        real_mark(session, rows, confirmed, failed)
        raise ConnectionError("database away")

    monkeypatch.setattr(outbox, "_mark", failing)
    with pytest.raises(ConnectionError):
        relay_pending(session_factory, broker, batch=2, batches=10)
    assert broker.steps == [
        ("send", 1, ["c1", "c2"]),
        ("wait", 1),
        ("send", 2, ["c3"]),
        ("wait", 2),
    ]
    assert all(row.published_at is None for row in rows(session_factory).values())
