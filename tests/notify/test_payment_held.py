"""A held payment reaches the unit's contact as an SMS, through the payments and notify services
on the local RabbitMQ: payments' `payment_held` event (dispatched here by nameko's standalone
dispatcher, as payments' outbox publishes it), notify asking the real payments service's
`invoice` RPC whom the invoice bills, and a stand-in for enrollment's `unit_contact` (tested
in its package). The SMS lands in notify's embedded outbox.
"""

from __future__ import annotations

from decimal import Decimal

import eventlet
import pytest
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import select

from services.messaging.database import make_engine, make_session_factory, session_scope
from services.notify.models import OutboxSms
from services.payments.models import Invoice
from services.payments.service import PaymentsService
from tests.payments.test_service import base_config, payments_config

pytestmark = pytest.mark.rabbit
UNIT_PHONE = "13900001111"


class EnrollmentStandIn:
    name = "enrollment"

    @rpc
    def unit_contact(self, unit_id):
        return {"unit_id": unit_id, "name": "张家口卷烟厂工会", "contact_phone": UNIT_PHONE}


@pytest.fixture
def services(container_factory, rabbit_config, web_config, tmp_path, notify_at_noon):
    base = {**base_config(rabbit_config, tmp_path), **web_config}
    notify_url = f"sqlite:///{tmp_path}/var/notify.sqlite"
    base["DATABASES"] = {**base["DATABASES"], "notify": notify_url}
    config = {**base, "SMS_SEND_INTERVAL": 0.05, "SMS_RECEIPT_TOKEN": "t0ken"}
    container_factory(PaymentsService, payments_config(base)).start()
    container_factory(EnrollmentStandIn, base).start()
    notify = container_factory(notify_at_noon, config)
    notify.start()
    payments_db = make_engine(base["DATABASES"]["payments"], pool_size=1)
    notify_db = make_engine(notify_url, pool_size=1)
    yield base, notify, make_session_factory(payments_db), make_session_factory(notify_db)
    payments_db.dispose()
    notify_db.dispose()


def an_invoice(session_factory) -> str:
    with session_scope(session_factory) as session:
        invoice = Invoice(
            code="ZJK24A1B2C3",
            kind="unit",
            city="zhangjiakou",
            year=2024,
            application_id="app-1",
            unit_id="unit-1",
            payer_name="张家口卷烟厂工会",
            amount=Decimal("1800.00"),
            payee="张家口市总工会",
            bank="中国工商银行张家口分行",
            account_number="0407000109300012345",
            reference="ZJK24A1B2C3 张家口卷烟厂工会",
            issued_by="system:payments",
        )
        session.add(invoice)
        session.flush()
        return invoice.id


def test_payments_answers_whom_an_invoice_bills_without_personal_data(services):
    config, _, payments_db, _ = services
    invoice_id = an_invoice(payments_db)
    with ClusterRpcProxy(config) as cluster:
        answer = cluster.payments.invoice(invoice_id)
    assert answer == {
        "invoice_id": invoice_id,
        "kind": "unit",
        "status": "open",
        "city": "zhangjiakou",
        "year": 2024,
        "unit_id": "unit-1",
        "member_id": None,
        "application_id": "app-1",
    }


def test_a_held_payment_reaches_the_unit_contact_as_an_sms(services):
    config, notify, payments_db, notify_db = services
    invoice_id = an_invoice(payments_db)
    held = {
        "v": 1,
        "event_id": "held-1",
        "receipt_id": "r-1",
        "city": "zhangjiakou",
        "invoice_id": invoice_id,
        "amount": "1500.00",
        "reason": "short",
    }
    with entrypoint_waiter(notify, "on_payment_held"):
        event_dispatcher(config)("payments", "payment_held", held)

    def outbox():
        with session_scope(notify_db) as session:
            return [(r.phone, r.text) for r in session.scalars(select(OutboxSms))]

    for _ in range(100):  # the sender loop's next run
        if outbox():
            break
        eventlet.sleep(0.05)
    ((phone, text),) = outbox()
    assert phone == UNIT_PHONE
    assert "张家口卷烟厂工会" in text and "1500.00元" in text and "金额不足" in text
