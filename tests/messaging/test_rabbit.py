"""Outbox events on the real broker: nameko's consumers receive them, and the broker's
confirm (or refusal) decides whether a row counts as published."""

import amqp
import pytest
from kombu import Connection, Exchange, Queue
from nameko.events import event_handler
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_waiter

from services.messaging.database import session_scope
from services.messaging.outbox import OUTBOX, record_event, relay_pending
from services.messaging.publishing import event_publisher
from tests.messaging.demo_services import ClaimsService, PaymentsService

pytestmark = pytest.mark.rabbit
on_sqlite = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


class Listener:
    name = "listener"

    @event_handler("claims", "claim_approved")
    def on_claim_approved(self, event):
        return event


@on_sqlite
def test_relayed_events_reach_a_nameko_event_handler(
    rabbit_config, container_factory, session_factory
):
    container = container_factory(Listener, rabbit_config)
    container.start()
    with session_scope(session_factory) as session:
        event_id = record_event(
            session,
            "claim_approved",
            {"v": 1, "claim_id": "c1"},
            headers={"nameko.call_id_stack": ["claims.approve.7f3a"]},
        )
    contexts = []

    def seen(worker_ctx, result, exc_info):
        contexts.append(worker_ctx)
        return True

    with entrypoint_waiter(container, "on_claim_approved", timeout=10, callback=seen) as handled:
        assert relay_pending(session_factory, event_publisher(rabbit_config, "claims")) == 1

    assert handled.get() == {"v": 1, "claim_id": "c1", "event_id": event_id}
    # The originating worker's call stack travels in nameko's headers, as with EventDispatcher.
    assert contexts[0].call_id_stack[0] == "claims.approve.7f3a"


@on_sqlite
def test_the_message_is_persistent_and_carries_the_event_id(rabbit_config, session_factory):
    exchange = Exchange("claims.events", type="topic", durable=True)
    audit = Queue("audit", exchange=exchange, routing_key="claim_approved", durable=True)
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        audit(conn.channel()).declare()
        with session_scope(session_factory) as session:
            event_id = record_event(session, "claim_approved", {"v": 1, "claim_id": "c1"})
        relay_pending(session_factory, event_publisher(rabbit_config, "claims"))
        message = conn.SimpleQueue(audit).get(timeout=5)
    assert message.payload == {"v": 1, "claim_id": "c1", "event_id": event_id}
    assert message.properties["delivery_mode"] == 2
    assert message.properties["message_id"] == event_id
    assert message.content_type == "application/json"
    assert message.delivery_info["routing_key"] == "claim_approved"


@on_sqlite
def test_a_message_the_broker_refuses_stays_in_the_outbox(rabbit_config, session_factory):
    # Without the exchange the broker refuses the message; only a publisher that waits for
    # the confirm sees that, and the row must stay unpublished.
    refusing = event_publisher({**rabbit_config, "DECLARE_EVENT_EXCHANGES": False}, "claims")
    with session_scope(session_factory) as session:
        record_event(session, "claim_approved", {"v": 1, "claim_id": "c1"})

    assert relay_pending(session_factory, refusing) == 0
    with session_scope(session_factory) as session:
        row = session.execute(OUTBOX.select()).one()
    assert row.published_at is None and row.attempts == 1
    assert "NOT_FOUND" in row.last_error

    assert relay_pending(session_factory, event_publisher(rabbit_config, "claims")) == 1


@on_sqlite
def test_a_batch_is_published_with_its_confirms_awaited_together(
    rabbit_config, session_factory, monkeypatch
):
    """Issue 14: a relay run publishes its batch on one confirm-mode channel and then waits
    for the acks: 300 events arrive in order, each confirmed (all marked), and no wait for a
    confirm comes between two publishes (waiting per message put one after each)."""
    exchange = Exchange("claims.events", type="topic", durable=True)
    audit = Queue("audit-batch", exchange=exchange, routing_key="claim_approved", durable=True)
    publisher = event_publisher(rabbit_config, "claims")
    steps = []
    publish, drain = amqp.Channel._basic_publish, amqp.Connection.drain_events

    def publishing(self, *args, **kwargs):
        steps.append("publish")
        return publish(self, *args, **kwargs)

    def waiting(self, timeout=None, *args, **kwargs):
        if timeout != 0:  # a publish polls (timeout 0) for connection.blocked; not a wait
            steps.append("wait")
        return drain(self, timeout, *args, **kwargs)

    # basic_publish is _basic_publish, or basic_publish_confirm (which calls _basic_publish)
    monkeypatch.setattr(amqp.Channel, "_basic_publish", publishing)
    monkeypatch.setattr(amqp.Channel, "basic_publish", publishing)
    monkeypatch.setattr(amqp.Connection, "drain_events", waiting)
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        audit(conn.channel()).declare()
        with session_scope(session_factory) as session:
            ids = [
                record_event(session, "claim_approved", {"v": 1, "claim_id": f"c{i}"})
                for i in range(300)
            ]
        steps.clear()
        assert relay_pending(session_factory, publisher, batch=300) == 300
        first = steps.index("publish")
        assert steps[first : first + 300] == ["publish"] * 300, steps[first : first + 310]
        assert steps.count("publish") == 300 and "wait" in steps
        queue = conn.SimpleQueue(audit)
        got = [queue.get(timeout=5).payload["event_id"] for _ in ids]
    assert got == ids
    with session_scope(session_factory) as session:
        assert all(r.published_at is not None for r in session.execute(OUTBOX.select()))

    # the connection is kept: the next batch's tags count on from this one's
    with session_scope(session_factory) as session:
        record_event(session, "claim_approved", {"v": 1, "claim_id": "next"})
    assert relay_pending(session_factory, publisher) == 1


def test_a_pipelined_run_delivers_every_batch_once_in_order(rabbit_config, session_factory):
    """Issue 14: a run of several batches (each sent while the one before is marked) delivers
    every event once, in order, and marks them all; a refused run leaves the publisher usable."""
    exchange = Exchange("claims.events", type="topic", durable=True)
    audit = Queue("audit-pipelined", exchange=exchange, routing_key="claim_approved", durable=True)
    publisher = event_publisher(rabbit_config, "claims")
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        audit(conn.channel()).declare()
        with session_scope(session_factory) as session:
            ids = [
                record_event(session, "claim_approved", {"v": 1, "claim_id": f"c{i}"})
                for i in range(250)
            ]
        assert relay_pending(session_factory, publisher, batch=40, batches=10) == 250
        queue = conn.SimpleQueue(audit)
        got = [queue.get(timeout=5).payload["event_id"] for _ in ids]
        assert got == ids
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.5)
    with session_scope(session_factory) as session:
        assert all(r.published_at is not None for r in session.execute(OUTBOX.select()))
        record_event(session, "claim_approved", {"v": 1, "claim_id": "next"})
    refusing = event_publisher({**rabbit_config, "DECLARE_EVENT_EXCHANGES": False}, "nowhere")
    assert relay_pending(session_factory, refusing, batch=40, batches=10) == 0
    assert relay_pending(session_factory, refusing, batch=40, batches=10) == 0  # not stuck
    assert relay_pending(session_factory, publisher, batch=40, batches=10) == 1


def test_services_with_database_and_outbox_on_rabbitmq(rabbit_config, container_factory, tmp_path):
    config = {
        **rabbit_config,
        "DATABASES": {
            "claims": f"sqlite:///{tmp_path}/var/claims.sqlite",
            "payments": f"sqlite:///{tmp_path}/var/payments.sqlite",
        },
        "DATABASE_CREATE_TABLES": True,
        "OUTBOX_RELAY_INTERVAL": 60,
    }
    claims = container_factory(ClaimsService, config)
    payments = container_factory(PaymentsService, config)
    claims.start()
    payments.start()

    with entrypoint_waiter(payments, "on_claim_approved", timeout=10) as handled:
        with ServiceRpcProxy("claims", config) as claims_rpc:
            claims_rpc.approve("c1")
    assert handled.get() is True
    with ServiceRpcProxy("payments", config) as payments_rpc:
        assert payments_rpc.payouts() == ["c1"]
