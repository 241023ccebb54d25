"""Payout batches through the bank simulator over real HTTP, its signed callbacks received by
the callback inbox, and the active query: with a fifth of the callbacks lost and the rest
reordered and duplicated, every payout ends final and none is paid twice; a dormant card
fails with its reason and the retry after the fix pays once. (The nameko service will do
the same with these functions; here a plain WSGI receiver stands in for its HTTP edge.)"""

from __future__ import annotations

import functools
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from wsgiref.simple_server import make_server

import pytest
import requests
from sqlalchemy import func, select

from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.outbox import record_event
from services.payments import bank, bank_sim, callbacks, events, ledger, payouts
from services.payments.models import OUTBOX, Callback, Payout, metadata
from tests.conftest import BACKENDS

SECRET = "sim-secret"
ACCOUNT = "0412041229300124836"
WAIT = 30


@pytest.fixture(params=BACKENDS)
def factory(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path}/payments.sqlite"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = make_engine(url, pool_size=4)
    metadata().create_all(engine)
    yield make_session_factory(engine)
    metadata().drop_all(engine)
    engine.dispose()


def start(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def receiver(factory):
    """Our side's callback endpoint: store and verify, commit, answer (apply is separate)."""
    providers = callbacks.Providers(bank_secrets={"sim": [SECRET]})

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        provider = environ["PATH_INFO"].removeprefix("/payments/callbacks/")
        with session_scope(factory) as session:
            answer = callbacks.receive(
                session, provider, headers, body, providers, datetime.now(UTC)
            )
        start_response(f"{answer.status} -", [("Content-Length", "0")])
        return [b""]

    server = make_server("127.0.0.1", 0, app)
    url = start(server)
    yield f"{url}/payments/callbacks/bank/sim"
    server.shutdown()
    server.server_close()


@pytest.fixture
def simulator(receiver):
    sim = bank_sim.BankSimulator(
        bank_sim.SimConfig(
            secret=SECRET,
            callback_url=receiver,
            lose_rate=0.2,
            duplicate_rate=0.1,
            reorder=True,
            seed=11,
        )
    )
    server = bank_sim.serve(sim)
    url = start(server)
    adapter = bank.HttpBankAdapter("sim", url)
    yield sim, adapter, url
    adapter.close()
    sim.stop()
    server.shutdown()
    server.server_close()


def create(session, n: int, card: str = "6222020200112233445", attempt: int = 1):
    return payouts.create_payout(
        session,
        details={
            "claim_id": f"claim-{n}",
            "city": "zhangjiakou",
            "year": 2024,
            "member_id": f"m{n}",
            "name": f"会员{n}",
            "payee_card": card,
            "amount": f"{100 + n}.00",
            "attempt": attempt,
        },
        from_account=ACCOUNT,
        actor="claims",
    )


def settle(factory, sim):
    """Wait for the simulator to have posted (or lost) every callback, then apply them and
    query whatever is still without an answer."""
    deadline = time.monotonic() + WAIT
    while sim.pending_callbacks() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.pending_callbacks() == 0, "the simulator never finished sending"
    with session_scope(factory) as session:
        record = functools.partial(record_event, session)
        while callbacks.apply_pending(session, record=record):
            pass
    return record


def outbox_events(session, event_type):
    return [
        row.payload
        for row in session.execute(select(OUTBOX).where(OUTBOX.c.event_type == event_type))
    ]


def test_lost_and_reordered_callbacks_every_payout_ends_final_by_the_query(factory, simulator):
    sim, adapter, _ = simulator
    count = 120
    with session_scope(factory) as session:
        for n in range(count):
            create(session, n)
    with session_scope(factory) as session:
        sent = 0
        while True:
            _, size = bank.send_batch(
                session, adapter, from_account=ACCOUNT, size=100, actor="batcher"
            )
            if not size:
                break
            sent += size
    assert sent == count

    settle(factory, sim)
    with session_scope(factory) as session:
        unanswered = session.scalar(
            select(func.count()).select_from(Payout).where(Payout.status.in_(payouts.IN_FLIGHT))
        )
        moved = bank.query_unfinished(
            session,
            adapter,
            now=datetime.now(UTC),
            after=timedelta(0),
            record=functools.partial(record_event, session),
        )

    with session_scope(factory) as session:
        statuses = dict(
            session.execute(select(Payout.status, func.count()).group_by(Payout.status)).all()
        )
        paid_events = outbox_events(session, events.PAYOUT_SUCCEEDED)
        fund = ledger.balance(session, ledger.fund("zhangjiakou", ACCOUNT).code)
        duplicates = session.scalar(
            select(func.count()).select_from(Callback).where(Callback.status == "duplicate")
        )
    assert 0 < unanswered == moved  # callbacks were lost, and the query found each one
    assert duplicates > 0  # the bank sent some twice: stored, applied once
    assert statuses == {payouts.SUCCEEDED: count}
    assert sorted(e["payout_id"] for e in paid_events) == sorted(sim.payouts)  # once each
    assert fund == -sum(Decimal(100 + n) for n in range(count))
    assert len(sim.payouts) == count  # the bank received each payout once


def test_a_dormant_card_fails_with_its_reason_and_the_retry_after_the_fix_pays_once(
    factory, simulator
):
    sim, adapter, url = simulator
    card = "6222020200199998888"
    sim.config.card_failures[card] = ("E1003", "账户久悬")
    sim.config.lose_rate = 0.0
    with session_scope(factory) as session:
        first = create(session, 1, card)
        bank.send_batch(session, adapter, from_account=ACCOUNT, size=10, actor="batcher")
    settle(factory, sim)
    with session_scope(factory) as session:
        failed = payouts.to_dict(payouts.get_payout(session, first.id))

    requests.post(f"{url}/cards/{card}/fix", json={}, timeout=5).raise_for_status()
    with session_scope(factory) as session:
        second = create(session, 1, card, attempt=2)  # claims' retry_payout
        bank.send_batch(session, adapter, from_account=ACCOUNT, size=10, actor="batcher")
    settle(factory, sim)

    with session_scope(factory) as session:
        assert payouts.get_payout(session, second.id).status == payouts.SUCCEEDED
        paid = outbox_events(session, events.PAYOUT_SUCCEEDED)
        failures = outbox_events(session, events.PAYOUT_FAILED)
    assert failed["status"] == "failed" and failed["failure_reason"] == "frozen_or_dormant"
    assert (failed["bank_code"], failed["bank_message"]) == ("E1003", "账户久悬")
    assert [f["failure_reason"] for f in failures] == ["frozen_or_dormant"]
    assert [(p["payout_id"], p["attempt"]) for p in paid] == [(second.id, 2)]


def test_a_batch_the_bank_did_not_confirm_is_queried_not_resent(factory, simulator):
    sim, adapter, _ = simulator
    down = bank.HttpBankAdapter("sim", "http://127.0.0.1:9", timeout=0.5)  # nothing listens
    with session_scope(factory) as session:
        payout = create(session, 1)
        _, size = bank.send_batch(session, down, from_account=ACCOUNT, size=10, actor="b")
    with session_scope(factory) as session:
        assert size == 1 and payouts.get_payout(session, payout.id).status == payouts.SUBMITTED
        # the bank never got it: the query says so, and the payout waits for a person
        bank.query_unfinished(
            session,
            adapter,
            now=datetime.now(UTC),
            after=timedelta(0),
            record=functools.partial(record_event, session),
        )
        assert payouts.get_payout(session, payout.id).status == payouts.SUBMITTED
        with pytest.raises(Exception, match="尚无结果"):
            create(session, 1, attempt=2)
    assert sim.payouts == {}


def test_the_simulator_refuses_a_port_in_use_in_one_line(capsys):
    taken = make_server("127.0.0.1", 0, lambda environ, start_response: [])
    try:
        with pytest.raises(SystemExit) as exit_:
            bank_sim.main(["--secret", "s", "--port", str(taken.server_port)])
    finally:
        taken.server_close()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "cannot listen" in err
