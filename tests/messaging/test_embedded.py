"""The embedded mode: services in one process on kombu's memory transport, with SQLite."""

import time

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter
from nameko.testing.utils import get_container

from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.embedded import embedded_config, embedded_services, install_memory_transport
from services.messaging.outbox import record_event
from tests.messaging.demo_services import ClaimsService, PaymentsService

SERVICES = [ClaimsService, PaymentsService]


@pytest.fixture
def config(tmp_path, memory_bus):
    return embedded_config(SERVICES, var_dir=tmp_path / "var", OUTBOX_RELAY_INTERVAL=60)


@pytest.fixture
def start(runner_factory):
    """Start the services on the memory bus; nameko's fixture kills them afterwards (a
    graceful stop waits out each consumer's 1 s drain timeout)."""
    install_memory_transport()

    def start(config):
        runner = runner_factory(config, *SERVICES)
        runner.start()
        return runner

    return start


def test_rpc_round_trip_and_service_to_service_calls(config):
    # embedded_services is what the CLI uses: started and stopped gracefully.
    with embedded_services(SERVICES, config), ClusterRpcProxy(config) as cluster:
        started = time.monotonic()
        event_id = cluster.claims.approve("c1")
        assert cluster.payments.check_claim("c1") is True  # payments -> claims by RpcProxy
        assert cluster.payments.check_claim("c2") is False
        # The 1 s polling of kombu's memory transport would make these take seconds.
        assert time.monotonic() - started < 1.0
    assert len(event_id) == 36


def test_an_event_reaches_the_other_service_after_the_commit(config, start):
    runner = start(config)
    with ClusterRpcProxy(config) as cluster:
        payments = get_container(runner, PaymentsService)
        # OUTBOX_RELAY_INTERVAL is 60 s: only the after-commit wake-up can deliver in time.
        with entrypoint_waiter(payments, "on_claim_approved", timeout=5) as handled:
            cluster.claims.approve("c1")
        assert handled.get() is True
        assert cluster.payments.payouts() == ["c1"]


def test_an_entrypoint_that_fails_leaves_no_change_and_no_event(config, start):
    runner = start(config)
    with ClusterRpcProxy(config) as cluster:
        with pytest.raises(RemoteError, match="refused after recording"):
            cluster.claims.approve_then_fail("c1")
        assert cluster.claims.is_approved("c1") is False
        # The next event is the first one payments sees: the failed one was never published.
        payments = get_container(runner, PaymentsService)
        with entrypoint_waiter(payments, "on_claim_approved", timeout=5):
            cluster.claims.approve("c2")
        assert cluster.payments.payouts() == ["c2"]


def test_a_commit_that_fails_is_the_callers_error_not_a_success(config, start):
    start(config)
    with ClusterRpcProxy(config) as cluster:
        cluster.claims.approve("c1")
        # The duplicate key surfaces at commit; the reply must carry that failure.
        with pytest.raises(RemoteError, match="IntegrityError"):
            cluster.claims.approve("c1")


def test_a_duplicate_delivery_changes_nothing(config, start):
    dispatch = event_dispatcher(config)
    body = {"v": 1, "claim_id": "c1", "event_id": "0190a0b0-0000-7000-8000-000000000001"}
    runner = start(config)
    with ClusterRpcProxy(config) as cluster:
        payments = get_container(runner, PaymentsService)
        with entrypoint_waiter(payments, "on_claim_approved", timeout=5) as first:
            dispatch("claims", "claim_approved", body)
        with entrypoint_waiter(payments, "on_claim_approved", timeout=5) as again:
            dispatch("claims", "claim_approved", body)
        assert (first.get(), again.get()) == (True, False)
        assert cluster.payments.payouts() == ["c1"]


def test_the_periodic_relay_publishes_what_no_commit_announced(tmp_path, memory_bus, start):
    config = embedded_config(SERVICES, var_dir=tmp_path / "var", OUTBOX_RELAY_INTERVAL=0.2)
    runner = start(config)
    payments = get_container(runner, PaymentsService)
    with entrypoint_waiter(payments, "on_claim_approved", timeout=5) as handled:
        # Written through another engine, as another process would: no wake-up reaches the
        # relay, as after a crash or a broker outage.
        engine = make_engine(config["DATABASES"]["claims"])
        with session_scope(make_session_factory(engine)) as session:
            record_event(session, "claim_approved", {"v": 1, "claim_id": "c9"})
        engine.dispose()
    assert handled.get() is True
