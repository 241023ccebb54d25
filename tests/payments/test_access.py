"""The payments access table (services/payments/access.py) on real RabbitMQ: a finance person
sees and resolves their own city's held money, payouts and statements, recorded as
themselves; a finance person of another city and a clerk are refused; the bus (other
services, the demo) still calls without a person."""

from __future__ import annotations

import base64

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.messaging.database import make_engine, make_session_factory, session_scope
from services.payments import receipts
from services.payments.service import PaymentsService
from tests.payments.conftest import Recorder
from tests.payments.samples import final_payouts, statement_csv, three_premiums
from tests.payments.test_service import base_config, payments_config
from tests.tokens import identity_context

pytestmark = pytest.mark.rabbit

ZJK = "zhangjiakou"
FINANCE = identity_context("finance", "钱财", sub="qc-1", city=ZJK)
SECOND = identity_context("finance", "孙会计", sub="sk-1", city=ZJK)
WUJIN = identity_context("finance", "吴财", sub="wc-1", city="wujin")
CLERK = identity_context("unit_clerk", "王芳", sub="wf-1", city=ZJK, unit="u-1")


@pytest.fixture
def desk(container_factory, rabbit_config, tmp_path, zhangjiakou):
    """Payments with a Zhangjiakou account's day: three premiums (one then short), and three
    final payouts; the held receipt's id and the account."""
    base = base_config(rabbit_config, tmp_path)
    container_factory(PaymentsService, payments_config(base)).start()
    engine = make_engine(base["DATABASES"]["payments"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            record = Recorder()
            account = three_premiums(session, zhangjiakou, record)
            receipt = receipts.receive_premium(
                session,
                provider="bank/icbc",
                event={
                    "event_id": "SER-SHORT",
                    "occurred_at": "2024-03-02T10:00:00+08:00",
                    "account": account,
                    "amount": "10.00",
                    "currency": "CNY",
                    "reference": "互助金",
                    "payer_name": "某单位",
                },
                callback_id=None,
                record=record,
            )
            final_payouts(session, record, account=account)
            held_id = receipt.id
    finally:
        engine.dispose()
    return base, held_id, account


def call(base: dict, person: dict | None):
    return ClusterRpcProxy(base, context_data=person or {})


def refused(error: pytest.ExceptionInfo) -> bool:
    return error.value.exc_type == "Forbidden"


def test_finance_works_on_their_own_city_as_themselves(desk):
    base, held_id, account = desk
    with call(base, FINANCE) as rpc:
        (held,) = rpc.payments.held(ZJK)
        assert held["receipt_id"] == held_id
        # the actor stated is ignored: the token's person is recorded
        proposal = rpc.payments.propose_refund(held_id, "someone else", "误汇，原路退回")
        with pytest.raises(RemoteError, match="另一人审批"):
            rpc.payments.approve_refund(proposal["resolution_id"], None)
        assert rpc.payments.held(ZJK)[0]["pending_refund"]["proposed_by"] == "钱财 (qc-1)"
        assert rpc.payments.list_payouts(ZJK, "failed")["total"] == 1
        assert rpc.payments.failed_payouts(ZJK)["total"] == 2
        report = rpc.payments.reconcile_statement(
            account, "0301.csv", base64.b64encode(statement_csv()).decode()
        )
    assert [o["serial"] for o in report["ours_only"]] == ["SER3"]
    assert base64.b64decode(report["report_b64"])[:2] == b"PK"
    with call(base, SECOND) as rpc:
        assert rpc.payments.approve_refund(proposal["resolution_id"], None)["status"] == "done"


def test_finance_of_another_city_is_refused(desk):
    base, held_id, account = desk
    with call(base, WUJIN) as rpc:
        assert rpc.payments.held("wujin") == []  # their own city: nothing held
        for ask in (
            lambda: rpc.payments.held(ZJK),
            lambda: rpc.payments.held(),
            lambda: rpc.payments.resolve_apply(held_id, None, "x"),
            lambda: rpc.payments.propose_refund(held_id, None, "x"),
            lambda: rpc.payments.list_payouts(ZJK),
            lambda: rpc.payments.failed_payouts(ZJK),
            lambda: rpc.payments.balances(ZJK),
            lambda: rpc.payments.reconcile_statement(account, "a.csv", "YQ=="),
        ):
            with pytest.raises(RemoteError) as error:
                ask()
            assert refused(error)
    with call(base, FINANCE) as rpc:
        proposal = rpc.payments.propose_refund(held_id, None, "误汇，原路退回")
    with call(base, WUJIN) as rpc:
        with pytest.raises(RemoteError) as error:
            rpc.payments.approve_refund(proposal["resolution_id"], None)
        assert refused(error)
    with call(base, FINANCE) as rpc:  # nothing was decided by the refused calls
        assert (
            rpc.payments.held(ZJK)[0]["pending_refund"]["resolution_id"]
            == (proposal["resolution_id"])
        )


def test_a_clerk_is_refused_and_the_bus_is_not(desk):
    base, held_id, _ = desk
    with call(base, CLERK) as rpc:
        for ask in (
            lambda: rpc.payments.held(ZJK),
            lambda: rpc.payments.resolve_apply(held_id, None, "x"),
            lambda: rpc.payments.list_payouts(ZJK),
        ):
            with pytest.raises(RemoteError) as error:
                ask()
            assert refused(error)
    with call(base, None) as rpc:  # another service, the demo: states its own actor
        assert [h["receipt_id"] for h in rpc.payments.held()] == [held_id]
        with pytest.raises(RemoteError, match="actor"):
            rpc.payments.propose_refund(held_id, None, "x")
        done = rpc.payments.propose_refund(held_id, "demo-finance", "误汇")
    assert done["receipt_id"] == held_id
