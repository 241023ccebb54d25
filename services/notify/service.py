"""The notify service: events in, one SMS per (event, recipient, template) out (thin class over
notices.py, sending.py, receipts.py and desk.py).

Handled: enrollment members_enrolled, application_returned; payments premium_paid,
payment_held, payout_succeeded, payout_failed; claims claim_submitted, claim_approved,
claim_returned, claim_rejected. Details are asked of their owners by RPC (notices.py).

RPC (help desk): sent_to(phone), about_claim(claim_id), set_opt_out(phone, opted_out, actor,
reason). HTTP: POST /notify/receipts/<provider>/<token>, the gateway's receipt batch. Who may
call the help desk's reads as a person: access.py (the bus calls them as before).

Configuration: SMS_GATEWAY, SMS_RETRY_DELAYS, SMS_DAILY_LIMIT, SMS_QUIET_HOURS,
SMS_SEND_INTERVAL, SMS_SEND_BATCH, SMS_SEND_CONCURRENCY (sending.py, dependencies.py) and
SMS_RECEIPT_TOKEN, the secret path token of the receipts URL given to the gateway.
"""

from __future__ import annotations

import hmac
import json

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from services.access.guard import AsService, Guard
from services.kernel.errors import PolicyError
from services.kernel.schemas import load_or_raise
from services.messaging.dependencies import Database
from services.messaging.errors import EventPayloadError
from services.messaging.handlers import event_handler
from services.messaging.idempotency import first_time, handled_before
from services.messaging.logs import LogContext
from services.messaging.openapi import Route
from services.messaging.web import HttpError, http
from services.notify import desk, notices, schemas
from services.notify.access import POLICY, city_of
from services.notify.dependencies import Sender
from services.notify.models import metadata
from services.notify.receipts import ReceiptsRefused, apply_receipts
from services.providers import CityPolicies

PROVIDERS = ("aliyun",)


class InvalidRequest(ValueError):
    pass


# what a caller may read of a refusal (the console shows these: services/console/refusals.py)
EXPECTED = (InvalidRequest, PolicyError)


class RpcDirectory:
    """notices.Directory over the owners' RPC."""

    def __init__(self, enrollment, claims, payments):
        self.enrollment, self.claims, self.payments = enrollment, claims, payments

    def notice_recipients(self, application_id: str) -> dict:
        return self.enrollment.notice_recipients(application_id)

    def application_reason(self, application_id: str) -> str | None:
        return self.enrollment.application(application_id).get("returned_reason")

    def unit_contact(self, unit_id: str) -> dict:
        return self.enrollment.unit_contact(unit_id)

    def member_contact(self, member_id: str) -> dict:
        return self.enrollment.member_contact(member_id)

    def notice_details(self, claim_id: str) -> dict:
        return self.claims.notice_details(claim_id)

    def invoice(self, invoice_id: str) -> dict:
        return self.payments.invoice(invoice_id)


def _check(schema, **values):
    return load_or_raise(schema(), values, "参数", InvalidRequest)


class NotifyService:
    name = "notify"

    db = Database(metadata())
    policies = CityPolicies()
    sender = Sender()
    config = Config()
    enrollment = AsService("enrollment")
    claims = AsService("claims")
    payments = AsService("payments")
    log_context = LogContext()
    access = Guard(POLICY)
    http_docs = {
        "http_receipts": Route(
            "短信网关推送的回执（批量；路径中的密钥即凭证）", schemas.ReceiptSchema(many=True)
        ),
    }
    http_errors = {InvalidRequest: 400, ReceiptsRefused: 400}

    def _handle(self, event_type: str, event: dict) -> None:
        """The owners are asked (notices.HANDLERS) before the transaction begins: on SQLite its
        first statement takes the file's write lock, not to be held while an answer is awaited
        (services/messaging/database.py); a redelivery, read without a lock, is not asked."""
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if not event_id:
            raise EventPayloadError(f"{event_type}: 缺少 event_id")
        consumer, event_id = f"notify.on_{event_type}", str(event_id)
        with self.db.read_scope() as reading:
            if handled_before(reading, consumer, event_id):
                return  # a redelivery: its messages are recorded already
        ctx = notices.Context(
            policies=self.policies,
            directory=RpcDirectory(self.enrollment, self.claims, self.payments),
        )
        outgoing = notices.HANDLERS[event_type](ctx, event)
        session = self.db.session
        if not first_time(session, consumer, event_id):
            return  # a delivery at the same time recorded them meanwhile
        if outgoing is not None and notices.record(
            session, outgoing, now=self.sender.now(), settings=self.sender.settings
        ):
            self.sender.wake()

    @event_handler("enrollment", "members_enrolled")
    def on_members_enrolled(self, event: dict) -> None:
        self._handle("members_enrolled", event)

    @event_handler("enrollment", "application_returned")
    def on_application_returned(self, event: dict) -> None:
        self._handle("application_returned", event)

    @event_handler("payments", "premium_paid")
    def on_premium_paid(self, event: dict) -> None:
        self._handle("premium_paid", event)

    @event_handler("payments", "payment_held")
    def on_payment_held(self, event: dict) -> None:
        self._handle("payment_held", event)

    @event_handler("claims", "claim_submitted")
    def on_claim_submitted(self, event: dict) -> None:
        self._handle("claim_submitted", event)

    @event_handler("claims", "claim_approved")
    def on_claim_approved(self, event: dict) -> None:
        self._handle("claim_approved", event)

    @event_handler("claims", "claim_returned")
    def on_claim_returned(self, event: dict) -> None:
        self._handle("claim_returned", event)

    @event_handler("claims", "claim_rejected")
    def on_claim_rejected(self, event: dict) -> None:
        self._handle("claim_rejected", event)

    @event_handler("payments", "payout_succeeded")
    def on_payout_succeeded(self, event: dict) -> None:
        self._handle("payout_succeeded", event)

    @event_handler("payments", "payout_failed")
    def on_payout_failed(self, event: dict) -> None:
        self._handle("payout_failed", event)

    # ---- help desk ------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def sent_to(self, phone: str) -> list[dict]:
        _check(schemas.PhoneArgs, phone=phone)
        return desk.sent_to(self.db.session, phone, city=city_of(self.access.identity))

    @rpc(expected_exceptions=EXPECTED)
    def about_claim(self, claim_id: str) -> list[dict]:
        _check(schemas.ClaimArgs, claim_id=claim_id)
        return desk.about_claim(self.db.session, claim_id)

    @rpc(expected_exceptions=(InvalidRequest,))
    def set_opt_out(
        self, phone: str, opted_out: bool, actor: str, reason: str | None = None
    ) -> dict:
        args = _check(
            schemas.OptOutArgs, phone=phone, opted_out=opted_out, actor=actor, reason=reason
        )
        return desk.set_opt_out(self.db.session, **args)

    # ---- receipts -------------------------------------------------------------------------

    # Called by the SMS gateway, not by a person: it carries no bearer token (auth=False, as
    # the bank callbacks) and is authenticated by the secret token in its path
    # (SMS_RECEIPT_TOKEN), compared in constant time.
    @http("POST", "/notify/receipts/<string:provider>/<string:token>", auth=False)
    def http_receipts(self, request, provider: str, token: str):
        expected = str(self.config.get("SMS_RECEIPT_TOKEN") or "")
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise HttpError(404, "没有这个地址")  # no hint that the path exists
        if provider not in PROVIDERS:
            raise HttpError(404, "没有这个地址")
        try:
            raw = json.loads(request.get_data() or b"null")
        except ValueError:
            raise ReceiptsRefused("回执不是有效的 JSON") from None
        try:
            batch = schemas.load_receipts(raw)
        except ValueError as exc:  # not a batch of reports
            raise ReceiptsRefused(str(exc)) from None
        apply_receipts(self.db.session, provider, batch)
        return {"code": 0, "msg": "成功"}  # what Aliyun expects back
