"""Each event becomes the right SMS to the right person, once: notices.py with a stand-in for
the owners' RPC (a dict per question)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.messaging.database import session_scope
from services.messaging.errors import EventPayloadError
from services.notify import notices
from services.notify.models import Message
from services.notify.sending import Settings
from tests.notify.conftest import NOON


class Directory:
    def __init__(self, members=3):
        self.members = members

    def notice_recipients(self, application_id):
        return {
            "unit_id": "u-1",
            "unit_name": "张家口市某局",
            "contact_phone": "13900000000",
            "members": [
                {"member_id": f"m-{i}", "name": f"职工{i}", "phone": f"1380000000{i}"}
                for i in range(self.members)
            ]
            + [{"member_id": "m-x", "name": "无号", "phone": None}],
        }

    def application_reason(self, application_id):
        return "参保率不足85%"

    def unit_contact(self, unit_id):
        return {"unit_id": unit_id, "name": "张家口市某局", "contact_phone": "13900000000"}

    def member_contact(self, member_id):
        return {"member_id": member_id, "name": "王芳", "phone": "13800000009"}

    def notice_details(self, claim_id):
        return {
            "claim_id": claim_id,
            "city": "zhangjiakou",
            "year": 2024,
            "member_id": "m-9",
            "payable": "800.00",
            "reason": "缺少出院小结",
            "card_last4": "4321",
        }

    def invoice(self, invoice_id):
        return {"unit_id": "u-1", "member_id": None, "year": 2024}


def handle(session_factory, policies, event_type, payload, directory=None):
    """The event asked about and rendered, then its notices queued: how many new."""
    ctx = notices.Context(policies=policies, directory=directory or Directory())
    outgoing = notices.HANDLERS[event_type](ctx, payload)
    if outgoing is None:
        return 0
    with session_scope(session_factory) as session:
        return notices.record(session, outgoing, now=NOON, settings=Settings())


def texts(session_factory):
    with session_scope(session_factory) as session:
        return [
            (m.recipient, m.phone, m.status, m.text)
            for m in session.scalars(select(Message).order_by(Message.recipient))
        ]


BASE = {"v": 1, "city": "zhangjiakou", "year": 2024}


def test_members_enrolled_is_one_sms_per_member_with_city_year_and_unit(session_factory, policies):
    event = {**BASE, "event_id": "e1", "application_id": "a-1", "unit_id": "u-1", "members": 4}
    assert handle(session_factory, policies, "members_enrolled", event) == 4
    assert handle(session_factory, policies, "members_enrolled", event) == 0
    rows = texts(session_factory)
    assert [r[2] for r in rows] == ["queued", "queued", "queued", "no_phone"]
    assert "职工0您好，您已由张家口市某局参加张家口市2024年度职工医疗互助活动" in rows[0][3]


def test_application_returned_tells_the_unit_contact_why(session_factory, policies):
    event = {**BASE, "event_id": "e2", "application_id": "a-1", "unit_id": "u-1"}
    handle(session_factory, policies, "application_returned", event)
    ((recipient, phone, _, text),) = texts(session_factory)
    assert (recipient, phone) == ("unit:u-1", "13900000000")
    assert "原因：参保率不足85%" in text


@pytest.mark.parametrize(
    ("event_type", "words"),
    [
        ("claim_submitted", "申请已受理"),
        ("claim_approved", "核定互助金800.00元"),
        ("claim_returned", "原因：缺少出院小结"),
        ("claim_rejected", "不予补助，原因：缺少出院小结"),
    ],
)
def test_claim_events_reach_the_member(session_factory, policies, event_type, words):
    event = {**BASE, "event_id": "e3", "claim_id": "c-1", "benefit": "hospital", "unit_id": "u"}
    handle(session_factory, policies, event_type, event)
    ((recipient, phone, _, text),) = texts(session_factory)
    assert (recipient, phone) == ("member:m-9", "13800000009") and words in text


def test_payouts_say_sent_or_what_to_do(session_factory, policies):
    paid = {"v": 1, "event_id": "e4", "claim_id": "c-1", "payout_id": "p", "amount": "800.00"}
    failed = {
        "v": 1,
        "event_id": "e5",
        "claim_id": "c-1",
        "payout_id": "p",
        "reason": "久悬",
        "failure_reason": "frozen_or_dormant",
        "attempt": 1,
    }
    handle(session_factory, policies, "payout_succeeded", paid)
    handle(session_factory, policies, "payout_failed", failed)
    found = {t[3] for t in texts(session_factory)}
    sent = next(t for t in found if "已转入" in t)
    what_to_do = next(t for t in found if "未能转入" in t)
    assert "800.00元已转入您尾号4321的" in sent
    assert "张家口银行" in what_to_do and "激活" in what_to_do


def test_premium_paid_and_held_tell_the_unit(session_factory, policies):
    paid = {**BASE, "event_id": "e6", "receipt_id": "r", "unit_id": "u-1", "amount": "5000.00"}
    held = {
        "v": 1,
        "event_id": "e7",
        "receipt_id": "r2",
        "city": "zhangjiakou",
        "invoice_id": "i-1",
        "amount": "4950.00",
        "reason": "short",
    }
    handle(session_factory, policies, "premium_paid", paid)
    handle(session_factory, policies, "payment_held", held)
    found = sorted(t[3] for t in texts(session_factory))
    assert any("5000.00元" in t for t in found)
    assert any("4950.00元暂未入账（金额不足）" in t for t in found)


def test_a_malformed_payload_is_refused_whole(session_factory, policies):
    with pytest.raises(EventPayloadError, match="amount"):
        handle(
            session_factory,
            policies,
            "payout_succeeded",
            {"v": 1, "event_id": "e8", "claim_id": "c", "payout_id": "p", "amount": "1e3"},
        )
    assert texts(session_factory) == []
