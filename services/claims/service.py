"""The claims service: a thin nameko class over claims.py, attachments.py, payouts.py,
queues.py, settlements.py and statistics.py (STYLE.md, nameko-examples).

Each entrypoint validates its input, calls one framework-free operation in the worker's
transaction and records events through the outbox (published after commit).

HTTP (the clerk's browser; the caller is named by X-Actor until authentication sits in front):
    POST /claims                                  {"city", "year", "id_number", "name", "facts", "payee_card"?}
    POST /claims/<id>/attachments?document=…&filename=…   body: the file (JPEG, PNG, PDF)
    POST /claims/<id>/submit                      {"not_applicable"?: {document: why}}
    GET  /claims/<id> Cover is asked
of the enrollment service by RPC for the date that counts. Payments' results arrive as
events and are applied once per event id.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from nameko.events import event_handler
from nameko.rpc import RpcProxy, rpc

from services.claims import attachments, payouts, queues, settlements, statistics
from services.claims import claims as ops
from services.claims.exceptions import ClaimsError, NotFound, SubmissionRefused
from services.claims.models import metadata
from services.claims.schemas import InvalidRequest, NewClaimSchema, load_new_claim
from services.kernel.errors import PolicyError
from services.messaging.dependencies import Database, Outbox
from services.messaging.logs import LogContext
from services.messaging.web import HttpError, http, read_json
from services.providers import CityPolicies, Clock

EXPECTED = (ClaimsError, PolicyError)


def _bytes(content_base64: str, name: str = "content_base64") -> bytes:
    try:
        return base64.b64decode(content_base64, validate=True)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name} 不是有效的 base64 文本") from None


def _claim(claim) -> dict[str, Any]:
    return {
        "claim_id": claim.id,
        "city": claim.city,
        "year": claim.year,
        "benefit": claim.benefit,
        "status": claim.status,
        "name": claim.name,
        "facts": claim.facts,
        "assessment": claim.assessment,
        "payable": None if claim.payable is None else f"{claim.payable:.2f}",
    }


class ClaimsService:
    name = "claims"

    db = Database(metadata())
    outbox = Outbox()
    policies = CityPolicies()
    today = Clock()
    enrollment = RpcProxy("enrollment")
    log_context = LogContext()
    http_errors = {
        NotFound: 404,
        SubmissionRefused: (422, lambda exc: {"problems": list(exc.problems)}),
        ClaimsError: 422,
        PolicyError: 422,
    }

    def _cover(self, city: str, id_number: str, on_date: date):
        return self.enrollment.cover(city, id_number, on_date.isoformat())

    # ---- intake ---------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def create_claim(
        self,
        city: str,
        year: int,
        id_number: str,
        facts: dict,
        actor: str,
        name: str | None = None,
        payee_card: str | None = None,
    ) -> dict:
        request = load_new_claim(
            {
                "city": city,
                "year": year,
                "id_number": id_number,
                "facts": facts,
                "name": name,
                "payee_card": payee_card,
            }
        )
        city = request.pop("city")
        claim = ops.create_claim(self.db.session, self.policies.get(city), actor=actor, **request)
        return _claim(claim)

    @rpc(expected_exceptions=EXPECTED)
    def add_attachment(
        self, claim_id: str, document: str, filename: str, content_base64: str, actor: str
    ) -> dict:
        session = self.db.session
        claim = ops.get_claim(session, claim_id)
        attachment = attachments.add_attachment(
            session,
            self.policies.get(claim.city),
            claim_id=claim_id,
            document=document,
            filename=filename,
            data=_bytes(content_base64),
            actor=actor,
        )
        return {
            "attachment_id": attachment.id,
            "sha256": attachment.sha256,
            "size": attachment.size,
        }

    @rpc(expected_exceptions=EXPECTED)
    def submit(self, claim_id: str, actor: str, not_applicable: dict | None = None) -> dict:
        session = self.db.session
        claim = ops.get_claim(session, claim_id)
        claim = ops.submit(
            session,
            self.policies.get(claim.city),
            claim_id=claim_id,
            actor=actor,
            today=self.today(),
            cover=self._cover,
            record=self.outbox.record,
            not_applicable=not_applicable,
        )
        return _claim(claim)

    # ---- review ---------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def approve(self, claim_id: str, actor: str, reason: str | None = None) -> dict:
        session = self.db.session
        claim = ops.get_claim(session, claim_id)
        claim = ops.approve(
            session,
            self.policies.get(claim.city),
            claim_id=claim_id,
            actor=actor,
            today=self.today(),
            record=self.outbox.record,
            reason=reason,
        )
        return _claim(claim)

    @rpc(expected_exceptions=EXPECTED)
    def return_claim(self, claim_id: str, actor: str, reason: str) -> dict:
        return _claim(
            ops.return_claim(
                self.db.session,
                claim_id=claim_id,
                actor=actor,
                reason=reason,
                record=self.outbox.record,
            )
        )

    @rpc(expected_exceptions=EXPECTED)
    def reject(self, claim_id: str, actor: str, reason: str) -> dict:
        return _claim(
            ops.reject(
                self.db.session,
                claim_id=claim_id,
                actor=actor,
                reason=reason,
                record=self.outbox.record,
            )
        )

    @rpc(expected_exceptions=EXPECTED)
    def claim(self, claim_id: str) -> dict:
        session = self.db.session
        data = _claim(ops.get_claim(session, claim_id))
        data["history"] = ops.history(session, claim_id=claim_id)
        data["attachments"] = attachments.list_attachments(session, claim_id=claim_id)
        return data

    @rpc(expected_exceptions=EXPECTED)
    def review_queue(self, city: str, year: int | None = None, within_days: int = 3) -> dict:
        return queues.review_queue(
            self.db.session, city=city, today=self.today(), within_days=within_days, year=year
        )

    @rpc(expected_exceptions=EXPECTED)
    def list_claims(self, city: str, year: int, status: str | None = None) -> list[dict]:
        return queues.list_claims(self.db.session, city=city, year=year, status=status)

    # ---- money ----------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def payout_details(self, claim_id: str) -> dict:
        """What payments needs to pay an approved claim (amount, payee card, member)."""
        return payouts.payout_details(self.db.session, claim_id=claim_id)

    @rpc(expected_exceptions=EXPECTED)
    def retry_payout(self, claim_id: str, actor: str, reason: str | None = None) -> dict:
        return _claim(
            payouts.retry_payout(
                self.db.session,
                claim_id=claim_id,
                actor=actor,
                record=self.outbox.record,
                reason=reason,
            )
        )

    @rpc(expected_exceptions=EXPECTED)
    def raise_clawback(self, claim_id: str, exclusion: str, actor: str, reason: str) -> dict:
        session = self.db.session
        claim = ops.get_claim(session, claim_id)
        entry = payouts.raise_clawback(
            session,
            self.policies.get(claim.city),
            claim_id=claim_id,
            exclusion=exclusion,
            actor=actor,
            reason=reason,
            record=self.outbox.record,
        )
        return {"claim_id": claim_id, "amount": f"{entry.amount:.2f}"}

    @event_handler("payments", "payout_succeeded")
    def on_payout_succeeded(self, event: dict) -> None:
        payouts.on_payout_succeeded(self.db.session, event=event, record=self.outbox.record)

    @event_handler("payments", "payout_failed")
    def on_payout_failed(self, event: dict) -> None:
        payouts.on_payout_failed(self.db.session, event=event, record=self.outbox.record)

    # ---- HTTP -----------------------------------------------------------------------------

    @http("POST", "/claims", actor=True)
    def http_create(self, request):
        body = read_json(request)
        unknown = set(body) - set(NewClaimSchema().fields)
        if unknown:  # the same one-line refusal the schema gives for the envelope
            raise InvalidRequest(f"申请有误: {', '.join(sorted(unknown))}: 不认识的字段")
        return 201, self.create_claim(
            body.get("city"),
            body.get("year"),
            body.get("id_number"),
            body.get("facts"),
            request.actor,
            body.get("name"),
            body.get("payee_card"),
        )

    @http("POST", "/claims/<string:claim_id>/attachments", actor=True)
    def http_attach(self, request, claim_id: str):
        document, filename = (
            request.args.get("document"),
            request.args.get("filename") or "attachment",
        )
        if not document:
            raise HttpError(400, "缺少 document（材料名称）")
        content = base64.b64encode(request.get_data()).decode()
        return 201, self.add_attachment(claim_id, document, filename, content, request.actor)

    @http("POST", "/claims/<string:claim_id>/submit", actor=True)
    def http_submit(self, request, claim_id: str):
        return self.submit(claim_id, request.actor, read_json(request).get("not_applicable"))

    @http("GET", "/claims/<string:claim_id>")
    def http_claim(self, request, claim_id: str):
        return self.claim(claim_id)

    # ---- Quzhou settlements and statistics -----------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def import_settlements(
        self,
        city: str,
        year: int,
        actor: str,
        filename: str | None = None,
        content_base64: str | None = None,
        records: list[dict] | None = None,
    ) -> dict:
        result = settlements.import_settlements(
            self.db.session,
            self.policies.get(city),
            year=year,
            actor=actor,
            cover=self._cover,
            record=self.outbox.record,
            data=None if content_base64 is None else _bytes(content_base64),
            filename=filename,
            records=records,
        )
        return result.to_dict()

    @rpc(expected_exceptions=EXPECTED)
    def statistics(self, city: str, year: int) -> dict:
        return statistics.claim_statistics(
            self.db.session, city=city, year=year, policy=self.policies.get(city)
        )
