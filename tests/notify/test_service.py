"""The notify service on the local RabbitMQ (nameko's container_factory in its own vhost): the
claim_approved event is dispatched by nameko's standalone dispatcher, and the details notify
asks for are answered by small stand-ins for claims and enrollment (the real ones are tested
in their packages; their notice RPCs are tested there too). SMS go to the embedded outbox.
"""

from __future__ import annotations

import eventlet
import pytest
import requests
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import select

from services.messaging.database import make_engine, make_session_factory, session_scope
from services.notify.dependencies import Sender
from services.notify.models import Message, OutboxSms

pytestmark = pytest.mark.rabbit

PHONE = "13812345678"
CLAIM = {
    "claim_id": "c-1",
    "city": "zhangjiakou",
    "year": 2024,
    "member_id": "m-1",
    "unit_id": "u-1",
    "payable": "1234.50",
    "reason": None,
    "card_last4": "5678",
}


class ClaimsStandIn:
    name = "claims"

    @rpc
    def notice_details(self, claim_id):
        return {**CLAIM, "claim_id": claim_id}


class EnrollmentStandIn:
    name = "enrollment"

    @rpc
    def member_contact(self, member_id):
        return {"member_id": member_id, "name": "王芳", "phone": PHONE}


@pytest.fixture
def notify(container_factory, rabbit_config, web_config, tmp_path, notify_at_noon):
    url = f"sqlite:///{tmp_path}/notify.sqlite"
    config = {
        **rabbit_config,
        **web_config,
        "DATABASES": {"notify": url},
        "DATABASE_CREATE_TABLES": True,
        "SMS_SEND_INTERVAL": 0.05,
        "SMS_RECEIPT_TOKEN": "s3cret-path-token",
    }
    for cls in (ClaimsStandIn, EnrollmentStandIn):
        container_factory(cls, config).start()
    container = container_factory(notify_at_noon, config)
    container.start()
    engine = make_engine(url, pool_size=2)
    yield container, config, make_session_factory(engine)
    engine.dispose()


def approved(event_id):
    return {
        "v": 1,
        "event_id": event_id,
        "claim_id": "c-1",
        "city": "zhangjiakou",
        "year": 2024,
        "benefit": "hospital",
        "unit_id": "u-1",
        "member_id": "m-1",
        "payable": "1234.50",
        "attempt": 1,
    }


def outbox(session_factory):
    with session_scope(session_factory) as session:
        return [(r.phone, r.text) for r in session.scalars(select(OutboxSms))]


def test_an_approved_claim_sends_one_sms_with_the_amount_and_a_replay_none(notify, web_config_port):
    container, config, session_factory = notify
    dispatch = event_dispatcher(config)
    with entrypoint_waiter(container, "on_claim_approved"):
        dispatch("claims", "claim_approved", approved("ev-1"))
    for _ in range(100):  # the sender loop's next run
        if outbox(session_factory):
            break
        eventlet.sleep(0.05)
    ((phone, text),) = outbox(session_factory)
    assert phone == PHONE
    assert text.startswith("【张家口市总工会】王芳您好") and "核定互助金1234.50元" in text

    with entrypoint_waiter(container, "on_claim_approved"):
        dispatch("claims", "claim_approved", approved("ev-1"))  # redelivered
    sender = next(d for d in container.extensions if isinstance(d, Sender))
    assert sender.send_now() == 0
    assert len(outbox(session_factory)) == 1

    with session_scope(session_factory) as session:
        (message,) = session.scalars(select(Message)).all()
        message_id = message.id
    base = f"http://127.0.0.1:{web_config_port}/notify/receipts/aliyun"
    receipt = [
        {"out_id": message_id, "success": True, "err_code": "DELIVERED", "phone_number": PHONE}
    ]
    assert requests.post(f"{base}/wrong-token", json=receipt, timeout=5).status_code == 404
    answer = requests.post(f"{base}/s3cret-path-token", json=receipt, timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"code": 0, "msg": "成功"})

    with ServiceRpcProxy("notify", config) as desk:
        (seen,) = desk.about_claim("c-1")
        assert (seen["phone"], seen["status"]) == ("138****5678", "delivered")
        assert [m["message_id"] for m in desk.sent_to(PHONE)] == [message_id]


def test_a_killed_service_leaves_no_send_running(notify):
    """The sender's pool runs each send in a green thread of its own: killing the service
    kills them too, rather than leaving them waiting on the gateway after it is gone."""
    container, config, _session_factory = notify
    sender = next(d for d in container.extensions if isinstance(d, Sender))
    calls, ended = eventlet.event.Event(), []

    class HangingGateway:
        def send(self, request):
            calls.send(request)
            try:
                eventlet.event.Event().wait()  # a gateway that never answers
            finally:
                ended.append(request)

    sender.gateway = HangingGateway()
    with entrypoint_waiter(container, "on_claim_approved"):
        event_dispatcher(config)("claims", "claim_approved", approved("ev-2"))
    with eventlet.Timeout(10):
        calls.wait()  # the send has begun, in the pool

    container.kill()

    assert len(ended) == 1 and not sender.pool.coroutines_running
