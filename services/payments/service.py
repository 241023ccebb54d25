"""The payments service: a thin nameko class over the framework-free core (invoices.py,
callbacks.py, receipts.py, payouts.py, desk.py, ledger.py); the loops that no request waits
for (applying callbacks, sending payout batches, the active query) are background.py's.

Events handled (payloads checked by handled_events.py):
    enrollment.application_submitted → the application and its quote by RPC → invoice issued
        (a returned and resubmitted application with a changed quote re-issues it)
    claims.claim_approved with payable > 0 → one payout per (claim_id, attempt), details from
        claims.payout_details; sent to the bank in the next batch
Published through the outbox (events.py): invoice_issued, premium_paid, payment_held,
payout_succeeded, payout_failed, payout_returned.

HTTP (signed by the provider, so no actor):
    POST /payments/callbacks/bank/<code>   our bank gateway contract (README, signatures.py)
    POST /payments/callbacks/wechatpay     WeChat Pay API v3 notifications
    The raw body is stored first, then verified; the answer goes at once (401 refused, 200
    accepted or duplicate; WeChat Pay: 204 or {"code": "FAIL", …}); applying is background.py's.

RPC for the finance desk and the other services: issue_member_invoice (Wujin), held, resolve_apply (apply or match to
another invoice), propose_refund / approve_refund / decline_refund (four eyes), list_payouts
(by state), failed_payouts, reconcile_statement (a statement's bytes → the report and its Excel),
balances, unit_premiums, invoice_of_application, invoice (whom it bills: notify's
payment_held), payouts_of_claim, failed_callbacks. A person calling (the console's finance
pages) is checked against access.py: finance, their own city; the recorded actor is theirs.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Any

from nameko.rpc import rpc
from sqlalchemy import select
from werkzeug.wrappers import Response

from services.access.guard import AsService, Guard
from services.kernel.errors import PolicyError
from services.kernel.schemas import load_or_raise
from services.messaging.dependencies import Database, Outbox
from services.messaging.handlers import event_handler
from services.messaging.idempotency import first_time, handled_before
from services.messaging.logs import LogContext
from services.messaging.openapi import Route
from services.messaging.web import http
from services.payments import (
    access,
    callbacks,
    desk,
    handled_events,
    invoices,
    ledger,
    payout_lists,
    payouts,
    receipts,
    reconcile,
)
from services.payments.background import BankLink
from services.payments.exceptions import DeskError, NotFound, PaymentsError
from services.payments.models import Invoice, Payout, metadata
from services.payments.schemas import BankEventSchema, InvoiceAnswer, InvoiceArgs
from services.providers import CityPolicies, Clock

EXPECTED = (PaymentsError, PolicyError)
SYSTEM = "system:payments"
CALLBACK_MAX_BODY = 64 * 1024  # a bank event is a few hundred bytes
STATEMENT_MAX_BYTES = 8 * 1024 * 1024  # a day's statement of one account


def _text(value: Any, name: str, limit: int = 500, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DeskError(f"缺少 {name}")
    if len(value) > limit:
        raise DeskError(f"{name} 超过 {limit} 个字符")
    return value.strip()


def _day(text: str | None):
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        return date.fromisoformat(text.strip())
    except (AttributeError, ValueError):
        raise PaymentsError(f"对账日期应为 YYYY-MM-DD，不是 {text!r}") from None


class PaymentsService:
    name = "payments"

    access = Guard(access.POLICY)
    db = Database(metadata())
    outbox = Outbox()
    policies = CityPolicies()
    today = Clock()
    enrollment = AsService("enrollment")
    claims = AsService("claims")
    bank = BankLink()
    log_context = LogContext()
    http_errors = {NotFound: 404, PaymentsError: 422, PolicyError: 422}
    http_docs = {
        "http_callback": Route(
            "银行（bank/<code>）或微信支付（wechatpay）的通知：原文先存，验签后受理，随后入账",
            BankEventSchema,
        ),
    }

    # ---- events ---------------------------------------------------------------------------

    # A handler asks enrollment or claims before its transaction begins: on SQLite the first
    # statement takes the file's write lock, and holding it while the answer comes stopped
    # any other writer, in this process the hub itself (services/messaging/database.py). What
    # it must know first (handled already?) it reads in read_scope, which takes no lock.

    @event_handler("enrollment", "application_submitted")
    def on_application_submitted(self, payload: dict) -> None:
        event = handled_events.application_submitted(payload)
        consumer, event_id = "payments.on_application_submitted", event["event_id"]
        with self.db.read_scope() as reading:
            if handled_before(reading, consumer, event_id):
                return  # delivered again: enrollment is not asked again
        application = self.enrollment.application(event["application_id"])
        session = self.db.session
        if not first_time(session, consumer, event_id):
            return  # a delivery at the same time handled it meanwhile
        invoices.issue_for_application(
            session,
            self.policies.get(application["city"]),
            application=application,
            actor=SYSTEM,
            record=self.outbox.record,
        )

    @event_handler("claims", "claim_approved")
    def on_claim_approved(self, payload: dict) -> None:
        event = handled_events.claim_approved(payload)
        if event["payable"] <= 0:
            return  # counted towards the year's total; nothing to pay
        with self.db.read_scope() as reading:
            if payouts.find_payout(reading, event["claim_id"], event["attempt"]) is not None:
                return  # the same approval again: one payout per (claim, attempt), not asked
        details = self.claims.payout_details(event["claim_id"])
        if int(details["attempt"]) != event["attempt"]:
            return  # a later attempt exists already; its own event brings it
        policy = self.policies.get(details["city"])
        payouts.create_payout(  # the existing one, if a delivery at the same time made it
            self.db.session,
            details=details,
            from_account=payouts.paying_account(
                policy, int(details["year"]), details.get("district")
            ),
            actor=SYSTEM,
        )

    # ---- callbacks --------------------------------------------------------------------------

    @http("POST", "/payments/callbacks/<path:provider>", auth=False, max_body=CALLBACK_MAX_BODY)
    def http_callback(self, request, provider: str):
        answer = self.bank.receive(
            self.db, provider, request.headers, request.get_data(cache=False)
        )
        if provider == callbacks.WECHATPAY:  # WeChat Pay's shapes: 204, or code/message
            if answer.status < 300:
                return Response(status=204)
            return answer.status, {"code": "FAIL", "message": answer.message}
        body = {"outcome": answer.outcome, "callback_id": answer.callback_id}
        if answer.message:
            body["message"] = answer.message
        return answer.status, body

    @rpc(expected_exceptions=EXPECTED)
    def issue_member_invoice(
        self,
        city: str,
        year: int,
        member_id: str,
        name: str,
        actor: str,
        unit_id: str | None = None,
    ) -> dict:
        """A member paying their own share through WeChat Pay (Wujin's 20 yuan): the invoice
        whose code is the order number (out_trade_no) the WeChat Pay notification carries."""
        invoice = invoices.issue_for_member(
            self.db.session,
            self.policies.get(_text(city, "city", 40)),
            city=city,
            year=int(year),
            unit_id=_text(unit_id, "unit_id", 36, required=False),
            member_id=_text(member_id, "member_id", 36),
            name=_text(name, "name", 100),
            actor=_text(actor, "actor", 100),
            record=self.outbox.record,
        )
        return invoices.to_dict(invoice)

    # ---- the finance desk -------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def held(self, city: str | None = None) -> list[dict]:
        return desk.list_held(self.db.session, city)

    @rpc(expected_exceptions=EXPECTED)
    def resolve_apply(
        self,
        receipt_id: str,
        actor: str | None,
        reason: str,
        invoice_id: str | None = None,
        invoice_code: str | None = None,
    ) -> dict:
        """Apply a held receipt to its invoice, or match it to another (``invoice_id``, or the
        ``invoice_code`` a person reads on it)."""
        resolution = desk.apply(
            self.db.session,
            receipt_id=_text(receipt_id, "receipt_id", 36),
            actor=self._actor(actor),
            reason=_text(reason, "处理说明"),
            record=self.outbox.record,
            invoice_id=_text(invoice_id, "invoice_id", 36, required=False),
            invoice_code=_text(invoice_code, "缴费码", 20, required=False),
        )
        return desk.resolutions(self.db.session, resolution.receipt_id)[-1]

    @rpc(expected_exceptions=EXPECTED)
    def propose_refund(self, receipt_id: str, actor: str | None, reason: str) -> dict:
        resolution = desk.propose_refund(
            self.db.session,
            receipt_id=_text(receipt_id, "receipt_id", 36),
            actor=self._actor(actor),
            reason=_text(reason, "退款原因"),
        )
        return {"resolution_id": resolution.id, "receipt_id": resolution.receipt_id}

    @rpc(expected_exceptions=EXPECTED)
    def approve_refund(
        self, resolution_id: str, actor: str | None, reason: str | None = None
    ) -> dict:
        resolution = desk.approve_refund(
            self.db.session,
            resolution_id=_text(resolution_id, "resolution_id", 36),
            actor=self._actor(actor),
            reason=_text(reason, "审批意见", required=False),
        )
        return {"resolution_id": resolution.id, "status": resolution.status}

    @rpc(expected_exceptions=EXPECTED)
    def decline_refund(self, resolution_id: str, actor: str | None, reason: str) -> dict:
        resolution = desk.decline_refund(
            self.db.session,
            resolution_id=_text(resolution_id, "resolution_id", 36),
            actor=self._actor(actor),
            reason=_text(reason, "驳回原因"),
        )
        return {"resolution_id": resolution.id, "status": resolution.status}

    @rpc(expected_exceptions=EXPECTED)
    def list_payouts(
        self,
        city: str,
        status: str | None = None,
        limit: int = payout_lists.PAGE,
        offset: int = 0,
    ) -> dict:
        """One page of a city's payouts (one state, or all), newest first, cards masked."""
        return payout_lists.by_state(
            self.db.session,
            _text(city, "city", 40),
            _text(status, "status", 20, required=False),
            limit=int(limit),
            offset=int(offset),
        )

    @rpc(expected_exceptions=EXPECTED)
    def failed_payouts(self, city: str, limit: int = payout_lists.PAGE, offset: int = 0) -> dict:
        """One page of a city's failed and returned payouts: the reason beside the bank's."""
        return payout_lists.failed(
            self.db.session, _text(city, "city", 40), limit=int(limit), offset=int(offset)
        )

    @rpc(expected_exceptions=EXPECTED)
    def reconcile_statement(
        self,
        account: str,
        filename: str,
        content_b64: str,
        actor: str | None = None,
        day: str | None = None,
    ) -> dict:
        """`mutual-aid payments reconcile` over RPC: the statement imported for the account,
        the report (matched, amount differs, ours only, bank's only, duplicates) and the same
        as an Excel workbook (``report_b64``)."""
        try:
            data = base64.b64decode(content_b64 or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise PaymentsError("对账单内容无法读取（应为 base64）") from None
        if not data:
            raise PaymentsError("请选择对账单文件（CSV 或 Excel）")
        if len(data) > STATEMENT_MAX_BYTES:
            raise PaymentsError(f"对账单超过 {STATEMENT_MAX_BYTES // (1024 * 1024)} MB")
        result = reconcile.reconcile_file(
            self.db.session,
            data=data,
            filename=_text(filename, "文件名", 255),
            account=_text(account, "账号", 40),
            actor=self._actor(actor),
            day=_day(day),
        )
        result["report_b64"] = base64.b64encode(reconcile.report_workbook(result)).decode()
        return result

    def _actor(self, stated: str | None) -> str:
        """The person's own actor when one calls; the bus states its own."""
        if self.access.identity is not None:
            return self.access.actor()
        return _text(stated, "actor", 100)

    @rpc(expected_exceptions=EXPECTED)
    def failed_callbacks(self) -> list[dict]:
        return callbacks.list_failed(self.db.session)

    # ---- reading ----------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def balances(self, city: str) -> dict:
        """Per city: each kind of account summed, and money in hand per fund account."""
        session = self.db.session
        return {
            "city": city,
            "accounts": ledger.city_balances(session, city),
            "funds": ledger.fund_balances(session, city),
        }

    @rpc(expected_exceptions=EXPECTED)
    def unit_balance(self, city: str, year: int, unit_id: str) -> dict:
        return ledger.unit_balance(self.db.session, city, int(year), unit_id)

    @rpc(expected_exceptions=EXPECTED)
    def unit_premiums(self, city: str, year: int) -> list[dict]:
        """Per unit of a city-year: billed, received, outstanding (claims' statistics)."""
        return ledger.unit_premiums(self.db.session, city, int(year))

    @rpc(expected_exceptions=EXPECTED)
    def invoice_of_application(self, application_id: str) -> dict:
        invoice = self.db.session.scalar(
            select(Invoice)
            .where(Invoice.application_id == application_id)
            .order_by(Invoice.issued_at.desc())
        )
        if invoice is None:
            raise NotFound(f"申请 {application_id} 还没有缴费通知")
        return invoices.to_dict(invoice)

    @rpc(expected_exceptions=EXPECTED)
    def invoice(self, invoice_id: str) -> dict:
        """Whom an invoice bills, for notify's payment_held notice: the unit or the member
        (Wujin) and the year; no payer name, account or remark (no personal data)."""
        args = load_or_raise(InvoiceArgs(), {"invoice_id": invoice_id}, "查询", PaymentsError)
        return InvoiceAnswer().dump(invoices.get_invoice(self.db.session, args["invoice_id"]))

    @rpc(expected_exceptions=EXPECTED)
    def receipt(self, receipt_id: str) -> dict:
        return receipts.to_dict(receipts.get_receipt(self.db.session, receipt_id))

    @rpc(expected_exceptions=EXPECTED)
    def payouts_of_claim(self, claim_id: str) -> list[dict]:
        session = self.db.session
        rows = session.scalars(
            select(Payout).where(Payout.claim_id == claim_id).order_by(Payout.attempt)
        )
        answer = []
        for payout in rows:
            item = payouts.to_dict(payout)
            item["history"] = payouts.history(session, payout.id)
            answer.append(item)
        return answer
