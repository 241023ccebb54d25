"""The callback inbox: stored verbatim first, verified, answered; applied in a separate step.
Bad, stale and replayed requests are refused and kept for audit; the same event twice is
applied once; a premium that does not match its invoice is held with the reason."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.payments import callbacks, events, invoices, ledger, payouts, signatures
from services.payments.models import Callback, Receipt
from tests.payments import wechat_keys
from tests.payments.samples import application

NOW = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)  # inside Zhangjiakou's window (to 15 March)
UNIT = "张家口市宣化区第一中学工会"


@pytest.fixture(scope="module")
def platform():
    return wechat_keys.platform_key()


@pytest.fixture
def providers(platform):
    return callbacks.Providers(
        bank_secrets={"icbc": ["new-secret", "old-secret"]},
        wechatpay=wechat_keys.keys(platform[1]),
    )


@pytest.fixture
def invoice(session, zhangjiakou, record):
    app = application(zhangjiakou, 2024, UNIT, 60)  # 3000.00 due
    return invoices.issue_for_application(
        session, zhangjiakou, application=app, actor="t", record=record
    )


def bank_event(invoice, **changes) -> dict:
    event = {
        "event_id": f"ICBC{uuid.uuid4().hex[:16]}",
        "type": "premium.received",
        "occurred_at": "2024-03-01T17:20:00+08:00",
        "account": invoice.account_number,
        "amount": f"{invoice.amount:.2f}",
        "currency": "CNY",
        "reference": invoice.reference,
        "payer_name": UNIT,
    }
    event.update(changes)
    return event


def signed(event: dict, *, secret="new-secret", nonce=None, at=NOW) -> tuple[dict, bytes]:
    body = json.dumps(event, ensure_ascii=False).encode()
    timestamp = int(at.timestamp())
    return signatures.signed_headers(secret, timestamp, nonce or uuid.uuid4().hex, body), body


def receive(session, providers, headers, body, provider="bank/icbc"):
    return callbacks.receive(session, provider, headers, body, providers, NOW)


def test_a_premium_is_stored_verbatim_then_applied_in_a_separate_step(
    session, providers, invoice, record
):
    headers, body = signed(bank_event(invoice))

    answer = receive(session, providers, headers, body)

    row = session.get(Callback, answer.callback_id)
    assert answer.status == 200 and answer.outcome == "accepted"
    assert row.body == body and row.headers["X-Bank-Signature"] == headers["X-Bank-Signature"]
    assert row.status == callbacks.VERIFIED and invoice.status == invoices.OPEN  # not yet

    assert callbacks.apply_pending(session, record=record) == 1

    assert row.status == callbacks.APPLIED and invoice.status == invoices.PAID
    fund = ledger.fund("zhangjiakou", invoice.account_number).code
    assert ledger.balance(session, fund) == Decimal("3000.00")
    assert ledger.unit_balance(session, "zhangjiakou", 2024, invoice.unit_id)["received"] == (
        "3000.00"
    )
    (paid,) = record.of(events.PREMIUM_PAID)
    assert paid["invoice_id"] == invoice.id and paid["paid_in_full"] is True
    assert ledger.unbalanced_journals(session) == []


def test_the_previous_secret_still_works_during_a_rotation(session, providers, invoice):
    headers, body = signed(bank_event(invoice), secret="old-secret")
    assert receive(session, providers, headers, body).status == 200


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda h, b: (h, b.replace(b"3000.00", b"3.00")), "bad_signature"),
        (lambda h, b: ({**h, "X-Bank-Signature": "0" * 64}, b), "bad_signature"),
        (
            lambda h, b: ({k: v for k, v in h.items() if not k.startswith("X-")}, b),
            "missing_signature",
        ),
    ],
)
def test_a_bad_or_missing_signature_is_401_stored_and_never_applied(
    session, providers, invoice, record, tamper, reason
):
    headers, body = tamper(*signed(bank_event(invoice)))

    answer = receive(session, providers, headers, body)
    callbacks.apply_pending(session, record=record)

    row = session.get(Callback, answer.callback_id)
    assert answer.status == 401 and row.status == callbacks.REFUSED and row.reason == reason
    assert row.body == body  # kept for audit, verbatim, with the event id it claimed
    assert row.event_id == json.loads(body)["event_id"] and row.event_key is None
    assert session.scalar(select(func.count()).select_from(Receipt)) == 0
    assert invoice.status == invoices.OPEN and record.of(events.PREMIUM_PAID) == []


def test_a_stale_timestamp_is_401(session, providers, invoice):
    headers, body = signed(bank_event(invoice), at=datetime(2024, 3, 1, 9, 54, 59, tzinfo=UTC))
    answer = receive(session, providers, headers, body)
    assert answer.status == 401 and session.get(Callback, answer.callback_id).reason == "stale"


def test_a_replayed_request_is_401_and_applied_once(session, providers, invoice, record):
    headers, body = signed(bank_event(invoice))

    first = receive(session, providers, headers, body)
    replay = receive(session, providers, headers, body)
    callbacks.apply_pending(session, record=record)

    assert first.status == 200 and replay.status == 401
    assert session.get(Callback, replay.callback_id).reason == "replay"
    assert session.scalar(select(func.count()).select_from(Receipt)) == 1


def test_the_same_event_delivered_twice_is_200_and_applied_once(
    session, providers, invoice, record
):
    event = bank_event(invoice)
    answers = [receive(session, providers, *signed(event)) for _ in range(2)]
    callbacks.apply_pending(session, record=record)
    callbacks.apply_pending(session, record=record)

    assert [a.status for a in answers] == [200, 200]
    assert [a.outcome for a in answers] == ["accepted", "duplicate"]
    assert session.scalar(select(func.count()).select_from(Receipt)) == 1
    fund = ledger.fund("zhangjiakou", invoice.account_number).code
    assert ledger.balance(session, fund) == Decimal("3000.00")
    assert len(record.of(events.PREMIUM_PAID)) == 1


def test_a_forged_request_cannot_take_a_genuine_events_place(session, providers, invoice, record):
    event = bank_event(invoice)
    forged_headers, forged_body = signed(event, secret="guessed")
    assert receive(session, providers, forged_headers, forged_body).status == 401

    genuine = receive(session, providers, *signed(event))
    callbacks.apply_pending(session, record=record)

    assert genuine.outcome == "accepted" and invoice.status == invoices.PAID


def test_a_signed_body_outside_the_contract_is_400_and_an_unknown_bank_404(
    session, providers, invoice
):
    bad_amount = receive(session, providers, *signed(bank_event(invoice, amount=3000.0)))
    no_account = receive(session, providers, *signed(bank_event(invoice, account=None)))
    unknown = receive(session, providers, *signed(bank_event(invoice)), provider="bank/nobank")

    assert (bad_amount.status, no_account.status, unknown.status) == (400, 400, 404)
    assert "amount" in bad_amount.message and "account" in no_account.message


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"amount": "2950.00"}, "short"),
        ({"amount": "3050.00"}, "over"),
        ({"reference": "某单位互助金"}, "unknown_reference"),
        ({"currency": "USD"}, "currency"),
        ({"occurred_at": "2024-03-16T09:00:00+08:00"}, "late"),
        ({"account": "6222000000000000"}, "account"),
    ],
)
def test_a_premium_that_does_not_match_is_held_never_applied(
    session, providers, invoice, record, changes, reason
):
    answer = receive(session, providers, *signed(bank_event(invoice, **changes)))
    callbacks.apply_pending(session, record=record)

    receipt = session.scalar(select(Receipt))
    assert session.get(Callback, answer.callback_id).status == callbacks.HELD
    assert receipt.status == "held" and receipt.hold_reason == reason
    assert invoice.status == invoices.OPEN and record.of(events.PREMIUM_PAID) == []
    (held,) = record.of(events.PAYMENT_HELD)
    assert held["reason"] == reason and held["receipt_id"] == receipt.id
    # the money is in the bank and in suspense; the unit still owes all of it
    assert ledger.balance(session, ledger.suspense(receipt.city).code) == -receipt.amount
    assert ledger.unit_balance(session, "zhangjiakou", 2024, invoice.unit_id)["outstanding"] == (
        "3000.00"
    )


def test_a_second_transfer_for_a_paid_invoice_is_held(session, providers, invoice, record):
    receive(session, providers, *signed(bank_event(invoice)))
    receive(session, providers, *signed(bank_event(invoice)))  # another bank serial
    callbacks.apply_pending(session, record=record)

    statuses = sorted((r.status, r.hold_reason) for r in session.scalars(select(Receipt)).all())
    assert statuses == [("applied", None), ("held", "already_paid")]


def test_a_wujin_members_wechat_payment_is_applied_and_a_signtest_probe_refused(
    session, providers, platform, wujin, record
):
    invoice = invoices.issue_for_member(
        session,
        wujin,
        city="wujin",
        year=2024,
        unit_id="unit-9",
        member_id="member-1",
        name="王五",
        actor="member",
        record=record,
    )
    timestamp = int(NOW.timestamp())
    headers, body = wechat_keys.notification(
        platform[0], wechat_keys.transaction(invoice.code, fen=2000), timestamp=timestamp
    )
    probe_headers = {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/abc"}

    probe = receive(session, providers, probe_headers, body, provider="wechatpay")
    answer = receive(session, providers, headers, body, provider="wechatpay")
    callbacks.apply_pending(session, record=record)

    assert probe.status == 401 and session.get(Callback, probe.callback_id).reason == "signtest"
    assert answer.status == 200 and invoice.status == invoices.PAID
    assert ledger.balance(
        session, ledger.fund("wujin", f"wechatpay:{wechat_keys.MCHID}").code
    ) == Decimal("20.00")


def test_payout_results_arrive_by_callback_and_a_second_one_changes_nothing(
    session, providers, record
):
    payout = payouts.create_payout(
        session,
        details={
            "claim_id": "claim-1",
            "city": "zhangjiakou",
            "year": 2024,
            "member_id": "m1",
            "name": "李四",
            "payee_card": "6222020200112233445",
            "amount": "1200.00",
            "attempt": 1,
        },
        from_account="0412041229300124836",
        actor="t",
    )
    payouts.take_batch(session, from_account=payout.from_account, size=10, actor="t")
    result = {
        "type": "payout.succeeded",
        "occurred_at": "2024-03-01T17:20:00+08:00",
        "payout_id": payout.id,
        "amount": "1200.00",
    }
    receive(session, providers, *signed({**result, "event_id": "P1"}))
    receive(session, providers, *signed({**result, "event_id": "P2"}))  # the bank again
    callbacks.apply_pending(session, record=record)

    statuses = [r.status for r in session.scalars(select(Callback).order_by(Callback.received_at))]
    assert payout.status == payouts.SUCCEEDED
    assert sorted(statuses) == [callbacks.APPLIED, callbacks.IGNORED]
    assert len(record.of(events.PAYOUT_SUCCEEDED)) == 1


def test_old_nonces_are_forgotten_once_the_tolerance_has_passed(session, providers, invoice):
    headers, body = signed(bank_event(invoice))
    receive(session, providers, headers, body)

    assert callbacks.prune_nonces(session, before=NOW) == 0  # seen just now: kept
    assert callbacks.prune_nonces(session, before=datetime.now(UTC) + timedelta(seconds=1)) == 1


def test_a_result_for_an_unknown_payout_is_kept_as_failed_for_finance(session, providers, record):
    event = {
        "event_id": "P9",
        "type": "payout.failed",
        "occurred_at": "2024-03-01T17:20:00+08:00",
        "payout_id": "no-such-payout",
        "failure_message": "户名不符",
    }
    answer = receive(session, providers, *signed(event))
    callbacks.apply_pending(session, record=record)

    (failed,) = callbacks.list_failed(session)
    assert failed["callback_id"] == answer.callback_id and "no-such-payout" in failed["detail"]
    assert record.events == []


def test_paid_on_is_the_banks_day_in_shanghai_else_the_service_clocks_today(
    session, providers, record
):
    def approved(claim_id):
        payout = payouts.create_payout(
            session,
            details={
                "claim_id": claim_id,
                "city": "zhangjiakou",
                "year": 2024,
                "member_id": "m1",
                "name": "李四",
                "payee_card": "6222020200112233445",
                "amount": "1200.00",
                "attempt": 1,
            },
            from_account="0412041229300124836",
            actor="t",
        )
        payouts.take_batch(session, from_account=payout.from_account, size=10, actor="t")
        return payout

    early, undated = approved("claim-early"), approved("claim-undated")
    # 07:20 in Shanghai is still the day before in UTC: the bank's day is 1 March
    result = {"type": "payout.succeeded", "amount": "1200.00"}
    receive(
        session,
        providers,
        *signed(
            {
                **result,
                "event_id": "P1",
                "payout_id": early.id,
                "occurred_at": "2024-03-01T07:20:00+08:00",
            }
        ),
    )
    callbacks.apply_pending(session, record=record, today=lambda: date(2024, 3, 9))
    payouts.apply_result(
        session,
        payout_id=undated.id,
        result=payouts.SUCCEEDED,
        actor="query:sim",
        record=record,
        paid_on=date(2024, 3, 9),  # a query's answer carries no date: the service clock's
    )

    paid = {p["claim_id"]: p["paid_on"] for p in record.of(events.PAYOUT_SUCCEEDED)}
    assert paid == {"claim-early": "2024-03-01", "claim-undated": "2024-03-09"}


@pytest.mark.postgres
def test_on_an_autocommit_connection_each_request_stands_alone(fresh_postgres, providers):
    """The service receives on PostgreSQL without a transaction (background.BankLink.receive):
    the accepted one, its duplicate and a replay each leave their row, decided by the unique
    indexes alone."""
    from services.messaging.database import make_engine
    from services.payments.models import metadata

    engine = make_engine(fresh_postgres, pool_size=2)
    metadata().create_all(engine)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    event = {
        "event_id": "ICBC-A1",
        "type": "payout.succeeded",
        "occurred_at": "2024-03-01T17:20:00+08:00",
        "payout_id": "p-1",
    }
    first_headers, first_body = signed(event)
    try:
        with autocommit.connect() as connection:
            answers = [
                callbacks.receive(connection, "bank/icbc", h, b, providers, NOW)
                for h, b in ((first_headers, first_body), signed(event))
            ]
            answers.append(
                callbacks.receive(
                    connection, "bank/icbc", first_headers, first_body, providers, NOW
                )
            )
        with engine.connect() as connection:
            rows = connection.execute(
                select(Callback.id, Callback.status, Callback.reason, Callback.nonce)
            ).all()
    finally:
        engine.dispose()
    assert [(a.status, a.outcome) for a in answers] == [
        (200, "accepted"),
        (200, "duplicate"),
        (401, "refused"),
    ]
    by_id = {row.id: row for row in rows}
    assert [by_id[a.callback_id].status for a in answers] == ["verified", "duplicate", "refused"]
    assert by_id[answers[2].callback_id].reason == "replay"
    assert by_id[answers[2].callback_id].nonce is None  # the first one holds it
