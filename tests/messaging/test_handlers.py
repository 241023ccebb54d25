"""`services.messaging.handlers.event_handler`: a failed event is retried, then parked; never lost.

A small payments service handles `claims.claim_approved` (and `claim_rejected`, for the test
that a waiting retry holds no worker); `Script` says how often its handler fails first. Each
test runs on kombu's in-memory bus (the embedded mode) and on the local RabbitMQ (its own
vhost, nameko's `rabbit_config`). With nameko's own `event_handler` every one of them fails: it
acknowledges the event on the first failure and keeps nothing.
"""

from __future__ import annotations

import time

import pytest
from kombu import Connection
from marshmallow import fields
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from services.messaging.database import make_engine, make_session_factory
from services.messaging.dead_letters import (
    DEAD_LETTERS,
    PARKED,
    REPLAYED,
    dead_letters_table,
    request_replay,
)
from services.messaging.dependencies import Database
from services.messaging.embedded import install_memory_transport, reset_memory_bus
from services.messaging.handlers import event_handler
from services.messaging.idempotency import first_time, processed_events_table
from services.messaging.payloads import EventSchema, load_payload

metadata = MetaData()
processed_events_table(metadata)
dead_letters_table(metadata)
PAYOUTS = Table(
    "payouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(36), nullable=False),
)


class ApprovedSchema(EventSchema):
    claim_id = fields.String(required=True)


class Script:
    """What the handler does on its next calls: fail `failures` more times, then succeed."""

    failures = 0
    calls: list[float] = []
    rejected: list[float] = []


class PaymentsService:
    name = "payments"
    db = Database(metadata)

    @event_handler("claims", "claim_approved")
    def on_claim_approved(self, event):
        event = load_payload(ApprovedSchema(), event, "claim_approved")
        Script.calls.append(time.monotonic())
        if Script.failures:
            Script.failures -= 1
            raise ConnectionError("the database went away")
        if first_time(self.db.session, "payments.on_claim_approved", event["event_id"]):
            self.db.session.execute(insert(PAYOUTS).values(claim_id=event["claim_id"]))

    @event_handler("claims", "claim_rejected")
    def on_claim_rejected(self, event):
        Script.rejected.append(time.monotonic())


QUEUE = "evt-claims-claim_approved--payments.on_claim_approved"


@pytest.fixture(params=["memory", pytest.param("rabbit", marks=pytest.mark.rabbit)])
def config(request, tmp_path):
    Script.failures, Script.calls, Script.rejected = 0, [], []
    if request.param == "memory":
        install_memory_transport()
        reset_memory_bus()
        request.addfinalizer(reset_memory_bus)
        bus = {"AMQP_URI": "memory://"}
    else:
        bus = {"AMQP_URI": request.getfixturevalue("rabbit_config")["AMQP_URI"]}
    return {
        **bus,
        "DATABASES": {"payments": f"sqlite:///{tmp_path}/var/payments.sqlite"},
        "DATABASE_CREATE_TABLES": True,
        "EVENT_RETRY_DELAYS": [0.2, 0.4],
        "EVENT_REPLAY_INTERVAL": 0.1,
    }


@pytest.fixture
def start(container_factory):
    def start(config):
        container = container_factory(PaymentsService, config)
        container.start()
        return container

    return start


@pytest.fixture
def database(config):
    engine = make_engine(config["DATABASES"]["payments"], pool_size=1)
    yield make_session_factory(engine)
    engine.dispose()


def approved(event_id: str = "e1", claim_id: str = "c1") -> dict:
    return {"v": 1, "event_id": event_id, "claim_id": claim_id}


def dispatch(config, event_type: str, payload) -> None:
    event_dispatcher(config)("claims", event_type, payload)


def succeeded(worker_ctx, result, exc_info) -> bool:
    return exc_info is None


def failures(count: int):
    """An entrypoint_waiter callback: done at the `count`-th failed run."""
    seen = []

    def callback(worker_ctx, result, exc_info):
        if exc_info is not None:
            seen.append(exc_info)
        return len(seen) == count

    return callback


def rows(database, table) -> list:
    with database() as session:
        return session.execute(select(table).order_by(table.c.id)).all()


def unacknowledged(container, config) -> int:
    """The handler's messages nobody acknowledged. The in-memory bus counts them on the
    consumer's channel; RabbitMQ takes them back into the queue once the container stops."""
    handler = next(e for e in container.entrypoints if e.method_name == "on_claim_approved")
    channel = handler.queue_consumer._consumers[handler].channel
    qos = getattr(channel, "qos", None)
    if hasattr(qos, "can_consume_max_estimate"):  # kombu's virtual (in-memory) channel
        return qos.prefetch_count - qos.can_consume_max_estimate()
    container.stop()
    with Connection(config["AMQP_URI"]) as connection:
        return connection.default_channel.queue_declare(QUEUE, passive=True).message_count


def test_a_failing_handler_is_retried_after_each_delay_and_then_succeeds(config, start, database):
    container = start(config)
    Script.failures = 2
    with entrypoint_waiter(container, "on_claim_approved", callback=succeeded, timeout=10):
        dispatch(config, "claim_approved", approved())

    first, second, third = Script.calls
    assert second - first >= 0.2 and third - second >= 0.4  # EVENT_RETRY_DELAYS
    assert [r.claim_id for r in rows(database, PAYOUTS)] == ["c1"]
    assert rows(database, DEAD_LETTERS) == []
    assert unacknowledged(container, config) == 0


def test_after_the_last_try_the_event_is_parked_with_its_reason_and_acknowledged(
    config, start, database
):
    container = start(config)
    Script.failures = 99
    with entrypoint_waiter(container, "on_claim_approved", callback=failures(3), timeout=10):
        dispatch(config, "claim_approved", approved())

    (letter,) = rows(database, DEAD_LETTERS)
    assert (letter.consumer, letter.source_service, letter.event_type) == (
        "payments.on_claim_approved",
        "claims",
        "claim_approved",
    )
    assert (letter.status, letter.attempts, letter.event_id) == (PARKED, 3, "e1")
    assert letter.reason == "ConnectionError: the database went away"
    assert letter.payload == approved()
    assert letter.first_failed_at <= letter.last_failed_at
    assert len(Script.calls) == 3 and rows(database, PAYOUTS) == []
    assert unacknowledged(container, config) == 0


def test_a_malformed_payload_is_parked_at_once_with_the_reason(config, start, database):
    container = start(config)
    with entrypoint_waiter(container, "on_claim_approved", callback=failures(1), timeout=10):
        dispatch(config, "claim_approved", {"v": 1, "event_id": "e2", "claim_id": 7})

    # parked on its first failure: the retries (0.2 s, 0.4 s) would come later
    (letter,) = rows(database, DEAD_LETTERS)
    assert (letter.status, letter.attempts) == (PARKED, 1)
    assert letter.reason == "claim_approved 有误: claim_id: 应为文字"
    assert Script.calls == [] and rows(database, PAYOUTS) == []
    assert unacknowledged(container, config) == 0


def test_a_waiting_retry_holds_no_worker(config, start):
    container = start({**config, "max_workers": 1, "EVENT_RETRY_DELAYS": [2.0]})
    Script.failures = 1
    with entrypoint_waiter(container, "on_claim_approved", callback=succeeded, timeout=10):
        with entrypoint_waiter(container, "on_claim_approved", callback=failures(1), timeout=10):
            dispatch(config, "claim_approved", approved())
        with entrypoint_waiter(container, "on_claim_rejected", timeout=10):
            dispatch(config, "claim_rejected", {"v": 1, "claim_id": "c2"})

    # the only worker handled the other event while the first one waited for its retry
    failed_at, retried_at = Script.calls
    assert failed_at < Script.rejected[0] < retried_at


def test_an_event_waiting_to_be_retried_when_the_service_stops_is_delivered_again(
    config, start, container_factory, database
):
    slow = {**config, "EVENT_RETRY_DELAYS": [30]}
    container = start(slow)
    Script.failures = 1
    with entrypoint_waiter(container, "on_claim_approved", callback=failures(1), timeout=10):
        dispatch(config, "claim_approved", approved())
    container.stop()  # mid-backoff: the retry was 30 s away

    restarted = container_factory(PaymentsService, slow)
    with entrypoint_waiter(restarted, "on_claim_approved", callback=succeeded, timeout=10):
        restarted.start()
    assert [r.claim_id for r in rows(database, PAYOUTS)] == ["c1"]
    assert len(Script.calls) == 2


def test_an_event_stays_unacknowledged_while_its_dead_letter_cannot_be_written(
    config, start, database
):
    container = start({**config, "EVENT_RETRY_DELAYS": [0.2, 1.0]})
    engine = database.kw["bind"]
    DEAD_LETTERS.drop(engine)  # the service's database refuses the dead letter
    Script.failures = 99
    with entrypoint_waiter(container, "on_claim_approved", callback=failures(4), timeout=10):
        with entrypoint_waiter(container, "on_claim_approved", callback=failures(3), timeout=10):
            dispatch(config, "claim_approved", approved())
        # three tries; the park failed, so a fourth try comes 1 s (the longest delay) later
        DEAD_LETTERS.create(engine)

    (letter,) = rows(database, DEAD_LETTERS)
    assert letter.status == PARKED and letter.attempts == 4
    assert unacknowledged(container, config) == 0


def test_a_replayed_dead_letter_reaches_its_handler_once_and_a_failed_replay_parks_it_again(
    config, start, database
):
    container = start(config)
    Script.failures = 3 + 3  # parked, then its first replay fails as well
    with entrypoint_waiter(container, "on_claim_approved", callback=failures(3), timeout=10):
        dispatch(config, "claim_approved", approved())
    (letter,) = rows(database, DEAD_LETTERS)

    with entrypoint_waiter(container, "on_claim_approved", callback=failures(3), timeout=10):
        with database.begin() as session:
            request_replay(session, [letter.id], actor="运维 张")
    (again,) = rows(database, DEAD_LETTERS)  # the same row, parked again
    assert (again.id, again.status, again.attempts) == (letter.id, PARKED, 6)
    assert again.replay_requested_by == "运维 张" and again.replayed_at is not None

    with entrypoint_waiter(container, "on_claim_approved", callback=succeeded, timeout=10):
        with database.begin() as session:
            request_replay(session, [letter.id], actor="运维 张")
    assert [r.claim_id for r in rows(database, PAYOUTS)] == ["c1"]
    (done,) = rows(database, DEAD_LETTERS)
    assert done.status == REPLAYED
    with database() as session:
        assert session.scalar(select(func.count()).select_from(PAYOUTS)) == 1
