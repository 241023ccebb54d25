"""Issue 10's done-when through the running services on real RabbitMQ (nameko's testing tools):
enrollment, claims and payments in their own vhost, the bank simulator in-process as the
payments service's bank (BANK_SIMULATOR), posting signed callbacks to its HTTP listener.

- a submitted application is invoiced; the unit's transfer at the simulator arrives as a
  signed callback, is applied, and enrollment records the application paid;
- a payout to a dormant (久悬) card fails, the claim shows it with the reason, and the retry
  after the card is fixed pays once.
"""

from __future__ import annotations

import base64

import eventlet
import pytest
import requests
from eventlet.event import Event
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import select

from services.claims.service import ClaimsService
from services.enrollment.service import EnrollmentService
from services.payments.background import BankLink
from services.payments.service import PaymentsService
from tests.claims.test_service import ZJK_HEADER, zjk_row
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import person

pytestmark = pytest.mark.rabbit

DORMANT_CARD = "6222020200112233445"
GOOD_CARD = "6222020200998877665"


class PaymentsListener:
    name = "payments_listener"
    seen: list = []

    @event_handler("payments", "payout_succeeded")
    def on_succeeded(self, payload):
        self.seen.append(("payout_succeeded", payload))

    @event_handler("payments", "payout_failed")
    def on_failed(self, payload):
        self.seen.append(("payout_failed", payload))

    @event_handler("payments", "invoice_issued")
    def on_invoice(self, payload):
        self.seen.append(("invoice_issued", payload))


def base_config(rabbit_config, tmp_path) -> dict:
    return {
        **rabbit_config,
        "DATABASES": {
            name: f"sqlite:///{tmp_path}/var/{name}.sqlite"
            for name in ("enrollment", "claims", "payments")
        },
        "DATABASE_CREATE_TABLES": True,
        "OUTBOX_RELAY_INTERVAL": 0.2,
        "WEB_SERVER_ADDRESS": "127.0.0.1:0",
        "EVENT_RETRY_DELAYS": [0.5, 1],
    }


def payments_config(base: dict, **simulator) -> dict:
    return {
        **base,
        "FIXED_TODAY": "2024-06-01",
        "BANK_SIMULATOR": {"code": "sim", "secret": "test-secret", "delay": 0.1, **simulator},
        "PAYOUT_SEND_INTERVAL": 0.2,
        "PAYMENTS_APPLY_INTERVAL": 0.2,
        "PAYOUT_QUERY_AFTER": 2,
        "PAYOUT_QUERY_INTERVAL": 0.5,
    }


def bank_link(container) -> BankLink:
    return next(d for d in container.dependencies if isinstance(d, BankLink))


@pytest.fixture
def running(container_factory, rabbit_config, tmp_path):
    """enrollment (its window: March), claims (June), payments and a listener; 10 members of
    one Zhangjiakou unit enrolled, the application submitted and approved."""
    base = base_config(rabbit_config, tmp_path)
    PaymentsListener.seen = []
    containers = {}
    for cls, config in (
        (EnrollmentService, {**base, "FIXED_TODAY": "2024-03-01"}),
        (ClaimsService, {**base, "FIXED_TODAY": "2024-06-01"}),
        (
            PaymentsService,
            payments_config(base, card_failures={DORMANT_CARD: ["E1003", "账户久悬"]}),
        ),
        (PaymentsListener, base),
    ):
        containers[cls.name] = container_factory(cls, config)
        containers[cls.name].start()
    with ClusterRpcProxy(base) as rpc:
        yield rpc, containers


def open_and_submit(rpc, people) -> str:
    unit = rpc.enrollment.register_unit(
        "zhangjiakou",
        2024,
        {
            "unit_key": "zjk-u1",
            "name": "张家口市第一中学工会",
            "staff_total": len(people),
            "staff_insured": len(people),
        },
    )
    app = rpc.enrollment.open_application(
        "zhangjiakou",
        {"unit_id": unit["unit_id"], "year": 2024, "participants": len(people)},
        "clerk",
    )
    rows = [["名册"], ZJK_HEADER] + [zjk_row(i, p) for i, p in enumerate(people, start=1)]
    data = base64.b64encode(xlsx_bytes({"人员名册": rows})).decode()
    answer = rpc.enrollment.import_roster(app["application_id"], "名册.xlsx", data, "clerk")
    assert answer["errors"] == [], answer["errors"]
    rpc.enrollment.submit(app["application_id"], "clerk")
    return app["application_id"]


def test_submitted_application_is_invoiced_and_the_transfer_marks_it_paid(running):
    rpc, containers = running
    people = [person(i) for i in range(10)]
    with entrypoint_waiter(containers["payments"], "on_application_submitted", timeout=15):
        application_id = open_and_submit(rpc, people)
    invoice = rpc.payments.invoice_of_application(application_id)
    assert invoice["amount"] == rpc.enrollment.application(application_id)["quote"]["total_due"]
    assert "张家口市第一中学工会" in invoice["reference"]
    assert "第十七期职工医疗互助金" in invoice["reference"]
    assert rpc.enrollment.application(application_id)["payment"] == "unpaid"

    link = bank_link(containers["payments"])
    with entrypoint_waiter(containers["enrollment"], "on_premium_paid", timeout=15):
        response = requests.post(
            f"http://127.0.0.1:{link.server_port}/transfers",
            json={
                "account": invoice["account"]["number"],
                "amount": invoice["amount"],
                "reference": invoice["reference"],
                "payer_name": "张家口市第一中学工会",
                "occurred_at": "2024-03-05T10:00:00+08:00",
            },
            timeout=5,
        )
        assert response.status_code == 202

    application = rpc.enrollment.application(application_id)
    assert application["payment"] == "paid"
    assert application["paid_amount"] == invoice["amount"]
    assert any("已缴清" in (h["reason"] or "") for h in application["history"])
    listed = rpc.enrollment.list_applications("zhangjiakou", 2024)
    assert [a["payment"] for a in listed] == ["paid"]
    assert rpc.payments.unit_premiums("zhangjiakou", 2024) == [
        {
            "unit_id": invoice["unit_id"],
            "billed": invoice["amount"],
            "received": invoice["amount"],
            "outstanding": "0.00",
        }
    ]
    # claims' statistics ask payments for the premiums: no claims paid yet, a rate of 0
    reimbursement = rpc.claims.statistics("zhangjiakou", 2024)["reimbursement"]
    assert (reimbursement["premiums"], reimbursement["paid"]) == (invoice["amount"], "0.00")
    assert reimbursement["reimbursement_rate"] == "0.0000"


def test_a_dormant_card_fails_the_claim_shows_why_and_the_retry_pays_once(running):
    rpc, containers = running
    people = [person(i) for i in range(10)]
    application_id = open_and_submit(rpc, people)
    rpc.enrollment.approve(application_id, "reviewer")
    member = people[0]
    facts = {
        "benefit": "critical_illness",
        "disease": "恶性肿瘤",
        "total_cost": "120000",
        "admission_date": "2024-05-10",
    }
    created = rpc.claims.create_claim(
        "zhangjiakou", 2024, member.id_number, facts, "clerk", member.name, DORMANT_CARD
    )
    submitted = claim_with_documents(rpc, created)
    claims_container = containers["claims"]

    with entrypoint_waiter(claims_container, "on_payout_failed", timeout=20):
        rpc.claims.approve(submitted["claim_id"], "reviewer")
    failed = rpc.claims.claim(submitted["claim_id"])
    assert failed["status"] == "payment_failed"
    assert "久悬" in failed["history"][-1]["reason"]
    (payout,) = rpc.payments.payouts_of_claim(submitted["claim_id"])
    assert (payout["status"], payout["failure_reason"], payout["bank_code"]) == (
        "failed",
        "frozen_or_dormant",
        "E1003",
    )
    assert payout["retryable"] is False
    assert payout["card"] != DORMANT_CARD and payout["card"].endswith(DORMANT_CARD[-4:])

    link = bank_link(containers["payments"])
    fixed = requests.post(f"http://127.0.0.1:{link.server_port}/cards/{DORMANT_CARD}/fix")
    assert fixed.status_code == 200
    with entrypoint_waiter(claims_container, "on_payout_succeeded", timeout=20):
        rpc.claims.retry_payout(submitted["claim_id"], "clerk", "会员已到网点激活工会卡")

    paid = rpc.claims.claim(submitted["claim_id"])
    assert paid["status"] == "paid"
    payouts = rpc.payments.payouts_of_claim(submitted["claim_id"])
    assert [(p["attempt"], p["status"]) for p in payouts] == [(1, "failed"), (2, "succeeded")]
    succeeded = [p for kind, p in PaymentsListener.seen if kind == "payout_succeeded"]
    assert [(p["claim_id"], p["attempt"], p["amount"]) for p in succeeded] == [
        (submitted["claim_id"], 2, "12000.00")
    ]
    assert link.simulator.payouts[payouts[1]["payout_id"]]["status"] == "succeeded"
    assert [p for p in link.simulator.payouts.values() if p["status"] == "succeeded"] == [
        link.simulator.payouts[payouts[1]["payout_id"]]
    ]


def claim_with_documents(rpc, created: dict) -> dict:
    """Attach every document the benefit asks for, then submit (tests/claims' `claim`)."""
    from services.kernel.registry import load_registry
    from tests.claims.flow import pdf

    benefit = next(
        b for b in load_registry().get("zhangjiakou").benefits(2024) if b.code == created["benefit"]
    )
    for i, document in enumerate(benefit.attachments):
        content = base64.b64encode(pdf(str(i))).decode()
        rpc.claims.add_attachment(created["claim_id"], document, f"{i}.pdf", content, "clerk")
    return rpc.claims.submit(created["claim_id"], "clerk")


# ---- a 1 000-claim batch with lost and reordered callbacks -------------------------------------

BATCH = 1000


class StubClaims:
    """claims as payments sees it: payout_details by RPC, and the payout results it hears.
    Running 1 000 real claims through intake and review would take minutes; the path from
    claim_approved to a final payout is the same."""

    name = "claims"
    results: list = []
    all_final = None  # an Event, sent when every payout of the batch has a result

    def _heard(self, result):
        self.results.append(result)
        if len(self.results) == BATCH:
            self.all_final.send()

    @rpc
    def payout_details(self, claim_id):
        n = int(claim_id.rsplit("-", 1)[1])
        return {
            "claim_id": claim_id,
            "city": "zhangjiakou",
            "year": 2024,
            "benefit": "critical_illness",
            "member_id": f"member-{n}",
            "name": f"会员{n}",
            "id_number": None,
            "unit_id": "unit-1",
            "payee_card": f"62220202{n:011d}",
            "amount": f"{100 + n % 7}.00",
            "attempt": 1,
            "pay_due": None,
        }

    @event_handler("payments", "payout_succeeded")
    def on_succeeded(self, payload):
        self._heard(("succeeded", payload["claim_id"], payload["payout_id"]))

    @event_handler("payments", "payout_failed")
    def on_failed(self, payload):
        self._heard(("failed", payload["claim_id"], payload["payout_id"]))


def test_a_batch_with_a_fifth_of_callbacks_lost_and_the_rest_reordered_ends_final_once(
    container_factory, rabbit_config, tmp_path
):
    from nameko.standalone.events import event_dispatcher
    from sqlalchemy import create_engine, func, select

    from services.payments.models import Journal, Payout, PayoutTransition

    base = base_config(rabbit_config, tmp_path)
    config = payments_config(
        base, lose=0.2, reorder=True, fail=0.05, duplicate=0.05, delay=0.5, seed=7
    )
    config["PAYOUT_BATCH_SIZE"] = 250
    StubClaims.results, StubClaims.all_final = [], Event()
    payments = container_factory(PaymentsService, config)
    payments.start()
    stub = container_factory(StubClaims, base)
    stub.start()
    link = bank_link(payments)

    dispatch = event_dispatcher(base)
    for n in range(BATCH):
        dispatch(
            "claims",
            "claim_approved",
            {
                "v": 1,
                "event_id": f"ev-{n}",
                "claim_id": f"claim-{n}",
                "city": "zhangjiakou",
                "year": 2024,
                "benefit": "critical_illness",
                "unit_id": "unit-1",
                "member_id": f"member-{n}",
                "payable": f"{100 + n % 7}.00",
                "attempt": 1,
            },
        )
    # the same approvals again (a redelivery): still one payout each
    for n in range(0, BATCH, 10):
        dispatch(
            "claims",
            "claim_approved",
            {
                "v": 1,
                "event_id": f"ev-again-{n}",
                "claim_id": f"claim-{n}",
                "city": "zhangjiakou",
                "year": 2024,
                "payable": f"{100 + n % 7}.00",
                "attempt": 1,
            },
        )
    with eventlet.Timeout(180):
        StubClaims.all_final.wait()
    eventlet.sleep(1)  # a result heard twice would arrive by now

    engine = create_engine(base["DATABASES"]["payments"])
    with engine.connect() as connection:
        statuses = dict(
            connection.execute(select(Payout.status, func.count()).group_by(Payout.status)).all()
        )
        queried = connection.execute(
            select(func.count(func.distinct(PayoutTransition.payout_id))).where(
                PayoutTransition.actor == "query:sim",
                PayoutTransition.to_status.in_(("succeeded", "failed")),
            )
        ).scalar()
        paid_journals = connection.execute(
            select(func.count()).select_from(Journal).where(Journal.kind == "payout_paid")
        ).scalar()
    engine.dispose()
    sim = link.simulator
    lost = BATCH - len({e["payout_id"] for e in sim.sent if "payout_id" in e})
    assert lost > 150  # about a fifth never called back …
    assert queried >= lost  # … and the active query brought each of them to its end
    assert sum(statuses.values()) == BATCH
    assert set(statuses) <= {"succeeded", "failed"}
    assert statuses["succeeded"] == paid_journals
    assert statuses["succeeded"] == sum(
        1 for p in sim.payouts.values() if p["status"] == "succeeded"
    )
    by_claim = [claim_id for _, claim_id, _ in StubClaims.results]
    assert sorted(set(by_claim)) == sorted(by_claim) and len(by_claim) == BATCH  # once each


# ---- the HTTP answers -------------------------------------------------------------------------


def test_callbacks_over_http_are_answered_at_once_in_each_providers_shape(
    container_factory, rabbit_config, tmp_path
):
    import json
    import time

    from services.payments import signatures
    from tests.payments import wechat_keys

    key, cert = wechat_keys.platform_key()
    config = payments_config(base_config(rabbit_config, tmp_path))
    config["WECHATPAY"] = {
        "apiv3_key": wechat_keys.APIV3_KEY,
        "platform_keys": {wechat_keys.SERIAL: cert.decode()},
    }
    container = container_factory(PaymentsService, config)
    container.start()
    root = bank_link(container)._own_url() + "/payments/callbacks/"
    body = json.dumps(
        {
            "event_id": "E-1",
            "type": "premium.received",
            "occurred_at": "2024-03-05T10:00:00+08:00",
            "account": "1",
            "amount": "1.00",
            "currency": "CNY",
            "reference": "nothing",
        }
    ).encode()
    now = int(time.time())
    good = signatures.signed_headers("test-secret", now, "nonce-1", body)

    def post(path, data, headers):
        return requests.post(root + path, data=data, headers=headers, timeout=5)

    first = post("bank/sim", body, good)
    assert (first.status_code, first.json()["outcome"]) == (200, "accepted")
    again = post("bank/sim", body, signatures.signed_headers("test-secret", now, "nonce-2", body))
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    replay = post("bank/sim", body, good)
    assert (replay.status_code, replay.json()["outcome"]) == (401, "refused")
    forged = post("bank/sim", body, signatures.signed_headers("wrong", now, "nonce-3", body))
    assert forged.status_code == 401
    stale = post("bank/sim", body, signatures.signed_headers("test-secret", now - 900, "n4", body))
    assert stale.status_code == 401
    assert post("bank/nobody", body, good).status_code == 404

    headers, wx_body = wechat_keys.notification(
        key, wechat_keys.transaction("ABCDEFG7"), timestamp=now
    )
    paid = post("wechatpay", wx_body, headers)
    assert (paid.status_code, paid.content) == (204, b"")
    probe_headers, probe_body = wechat_keys.notification(
        key, wechat_keys.transaction("X"), timestamp=now, nonce="n-wx-2", notification_id="EV-2"
    )
    probe_headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + "eA==" * 16
    probe = post("wechatpay", probe_body, probe_headers)
    assert probe.status_code == 401 and probe.json()["code"] == "FAIL"

    # every request stored verbatim, the refused ones too (for audit)
    from sqlalchemy import create_engine, select

    from services.payments.models import Callback

    engine = create_engine(config["DATABASES"]["payments"])
    with engine.connect() as connection:
        rows = connection.execute(select(Callback.provider, Callback.reason, Callback.body)).all()
    engine.dispose()
    assert len(rows) == 8 and all(row.body for row in rows)
    assert sorted(r.reason for r in rows if r.reason) == [
        "bad_signature",
        "replay",
        "signtest",
        "stale",
        "unknown_provider",
    ]


# ---- Quzhou: the payout comes from the unit's district block's account ----------------------


def test_a_quzhou_payout_is_paid_from_the_district_blocks_account(tmp_path):
    from nameko.testing.services import worker_factory

    from services.kernel.registry import load_registry
    from services.messaging.database import make_engine, make_session_factory, read_scope
    from services.payments.models import Payout, metadata

    engine = make_engine(f"sqlite:///{tmp_path}/payments.sqlite", pool_size=1)
    metadata().create_all(engine)
    registry = load_registry()
    quzhou = registry.get("quzhou")
    worker = worker_factory(PaymentsService, policies=registry)
    factory = make_session_factory(engine)
    worker.db.read_scope = lambda: read_scope(factory)
    worker.db.session = session = factory()
    worker.claims.payout_details.return_value = {
        "claim_id": "claim-q1",
        "city": "quzhou",
        "year": 2025,
        "member_id": "m-1",
        "name": "王芳",
        "unit_id": "unit-q1",
        "district": "柯城区",
        "payee_card": GOOD_CARD,
        "amount": "800.00",
        "attempt": 1,
    }
    payload = {
        "v": 1,
        "event_id": "11111111-1111-1111-1111-111111111111",
        "claim_id": "claim-q1",
        "city": "quzhou",
        "year": 2025,
        "benefit": "critical_illness",
        "unit_id": "unit-q1",
        "member_id": "m-1",
        "payable": "800.00",
        "attempt": 1,
    }

    worker.on_claim_approved(payload)

    payout = session.scalar(select(Payout))
    assert payout.from_account == quzhou.account(2025, "柯城区").number
    assert payout.from_account != quzhou.account(2025, "江山市").number
    session.close()
    engine.dispose()
