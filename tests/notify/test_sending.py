"""Sending through the fake Aliyun gateway (the real SDK over HTTP on localhost): nothing lost,
nothing doubled, night notices held till 08:00, opted-out numbers get essential ones only."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from eventlet.greenpool import GreenPool
from sqlalchemy import func, select

from services.kernel.clock import SHANGHAI
from services.messaging.database import session_scope
from services.notify.desk import set_opt_out
from services.notify.fake_gateway import ACCESS_KEY_ID, FakeAliyunGateway
from services.notify.gateways import AliyunGateway, OutboxGateway
from services.notify.models import Message, OutboxSms
from services.notify.sending import Notice, Settings, enqueue, send_due
from services.notify.templates import city_templates
from tests.notify.conftest import NOON

# The done-when figure; NOTIFY_LOAD_MEMBERS=500 for a quick run.
MEMBERS = int(os.environ.get("NOTIFY_LOAD_MEMBERS", "5000"))
FAST = Settings(retry_delays=(0.001, 0.001, 0.001, 0.001, 0.001, 0.001), batch=500)


def enrolment_notices(zhangjiakou, count):
    texts = city_templates(zhangjiakou, 2024)
    return [
        Notice(
            f"member:{i}",
            f"138{i:08d}",
            texts.render(
                "members_enrolled", name="王芳", unit="张家口市某局", city="张家口市", year=2024
            ),
        )
        for i in range(count)
    ]


def queue(session_factory, notices, event_id="e1", now=NOON, settings=FAST):
    with session_scope(session_factory) as session:
        return enqueue(
            session,
            notices,
            event_id=event_id,
            event_type="members_enrolled",
            city="zhangjiakou",
            year=2024,
            now=now,
            settings=settings,
        )


def statuses(session_factory):
    with session_scope(session_factory) as session:
        return dict(
            session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        )


def test_an_enrolment_s_members_none_lost_none_doubled_while_the_gateway_fails_and_throttles(
    sqlite_factory, zhangjiakou
):
    session_factory = sqlite_factory
    assert queue(session_factory, enrolment_notices(zhangjiakou, MEMBERS)) == MEMBERS
    assert queue(session_factory, enrolment_notices(zhangjiakou, MEMBERS)) == 0  # redelivered
    with FakeAliyunGateway(failure_rate=0.10, throttle_rate=0.05, seed=11) as fake:
        gateway = AliyunGateway(
            access_key_id=ACCESS_KEY_ID,
            access_key_secret="s",
            endpoint=fake.endpoint,
            protocol="http",
        )
        pool = GreenPool(10)
        now = NOON
        for _ in range(200):
            now += timedelta(seconds=1)  # past every shrunken backoff
            # sent as the service sends: a green pool of 10 requests at a time
            tried = send_due(session_factory, gateway, now=now, settings=FAST, each=pool.imap)
            if not tried and statuses(session_factory) == {"sent": MEMBERS}:
                break
    assert statuses(session_factory) == {"sent": MEMBERS}
    assert len(fake.accepted) == MEMBERS and fake.duplicates() == {}
    assert (
        fake.failed > MEMBERS * 0.06 and fake.throttled > MEMBERS * 0.03
    )  # the failures really happened


def test_a_message_out_of_retries_is_failed_not_lost(session_factory, zhangjiakou):
    queue(session_factory, enrolment_notices(zhangjiakou, 3))
    with FakeAliyunGateway(failure_rate=1.0) as fake:
        gateway = AliyunGateway(
            access_key_id=ACCESS_KEY_ID,
            access_key_secret="s",
            endpoint=fake.endpoint,
            protocol="http",
        )
        settings = Settings(retry_delays=(0.001, 0.001))
        now = NOON
        for _ in range(4):
            now += timedelta(seconds=1)
            send_due(session_factory, gateway, now=now, settings=settings)
    assert statuses(session_factory) == {"failed": 3}
    assert fake.requests == 9  # the first try and two retries each


def test_a_wrong_number_is_not_retried(session_factory, zhangjiakou):
    queue(session_factory, enrolment_notices(zhangjiakou, 1))
    with FakeAliyunGateway(access_key_id="another-key") as fake:
        gateway = AliyunGateway(
            access_key_id=ACCESS_KEY_ID,
            access_key_secret="s",
            endpoint=fake.endpoint,
            protocol="http",
        )
        send_due(session_factory, gateway, now=NOON, settings=FAST)
    assert statuses(session_factory) == {"failed": 1}


def test_a_non_urgent_notice_at_22_is_sent_at_08(session_factory, zhangjiakou):
    night = datetime(2024, 3, 1, 22, 0, tzinfo=SHANGHAI)
    queue(session_factory, enrolment_notices(zhangjiakou, 1), now=night, settings=Settings())
    gateway = OutboxGateway(session_factory)
    assert send_due(session_factory, gateway, now=night, settings=Settings()) == 0
    before = datetime(2024, 3, 2, 7, 59, tzinfo=SHANGHAI)
    assert send_due(session_factory, gateway, now=before, settings=Settings()) == 0
    morning = datetime(2024, 3, 2, 8, 0, tzinfo=SHANGHAI)
    assert send_due(session_factory, gateway, now=morning, settings=Settings()) == 1
    with session_scope(session_factory) as session:
        (written,) = session.scalars(select(OutboxSms)).all()
    assert written.text.startswith("【张家口市总工会】王芳您好")


def test_an_opted_out_member_gets_essential_notices_only(session_factory, zhangjiakou):
    texts = city_templates(zhangjiakou, 2024)
    with session_scope(session_factory) as session:
        set_opt_out(session, phone="13800000001", opted_out=True, actor="王芳", reason="本人要求")
    queue(
        session_factory,
        [Notice("member:1", "13800000001", texts.render("members_enrolled", name="王芳"))],
    )
    approved = texts.render("claim_approved", name="王芳", benefit="住院", amount="100.00")
    queue(session_factory, [Notice("member:1", "13800000001", approved)], event_id="e2")
    send_due(session_factory, OutboxGateway(session_factory), now=NOON, settings=FAST)
    with session_scope(session_factory) as session:
        rows = dict(session.execute(select(Message.template, Message.status)).all())
    assert rows == {"members_enrolled": "suppressed", "claim_approved": "sent"}


def test_past_the_daily_limit_a_notice_waits_for_tomorrow(session_factory, zhangjiakou):
    texts = city_templates(zhangjiakou, 2024)
    settings = Settings(daily_limit=2)
    for n in range(3):
        notice = Notice("member:1", "13800000001", texts.render("claim_submitted", name="王芳"))
        with session_scope(session_factory) as session:
            enqueue(
                session,
                [notice],
                event_id=f"e{n}",
                event_type="claim_submitted",
                city="zhangjiakou",
                year=2024,
                now=NOON,
                settings=settings,
            )
    with session_scope(session_factory) as session:
        due = sorted(m.astimezone(SHANGHAI) for m in session.scalars(select(Message.due_at)))
    assert due == [NOON, NOON, datetime(2024, 3, 2, 8, 0, tzinfo=SHANGHAI)]
