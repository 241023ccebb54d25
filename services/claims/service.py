"""The claims service: a thin nameko class over claims.py, attachments.py, payouts.py,
queues.py, settlements.py and statistics.py (STYLE.md, nameko-examples).

Each entrypoint validates its input, calls one framework-free operation in the worker's
transaction and records events through the outbox (published after commit).

HTTP (the clerk's browser; every route needs a bearer token, services/access; who may call
what on which unit or city is the table in access.py, checked by the Guard; the recorded
actor is the token's person, and an RPC call carrying a person's identity records that
person):
    POST /claims                                  {"city", "year", "id_number", "name", "facts", "payee_card"?}
    POST /claims/<id>/attachments?document=…[&document=…]&filename=…   body: the file (JPEG,
        PNG, PDF), serving each document named
    POST /claims/<id>/submit                      {"not_applicable"?: {document: why}}
    PATCH /claims/<id>                            {"facts"?, "name"?, "payee_card"?, "reason"?}
    DELETE /claims/<id>/attachments/<attachment_id>
    POST /claims/<id>/approve | /return | /reject  {"reason"?}
    GET  /claims/<id>     (the member's ID number in full only to the city's reviewer) Cover is asked
of the enrollment service by RPC for the date that counts. Payments' results arrive as
events and are applied once per event id.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from nameko.rpc import rpc

from services.access.guard import AsService, Guard
from services.claims import attachments, payouts, queues, schemas, settlements, statistics
from services.claims import claims as ops
from services.claims.access import POLICY, admit_cover
from services.claims.exceptions import ClaimsError, NotFound, NotStored, SubmissionRefused
from services.claims.models import metadata
from services.claims.schemas import InvalidRequest, check, load
from services.kernel.errors import PolicyError
from services.kernel.money import parse_money
from services.kernel.privacy import mask_id
from services.messaging.dependencies import Database, Outbox
from services.messaging.handlers import event_handler
from services.messaging.logs import LogContext
from services.messaging.openapi import FILE_BODY, Route
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
    enrollment = AsService("enrollment")
    payments = AsService("payments")
    log_context = LogContext()
    access = Guard(POLICY)
    http_errors = {
        NotFound: 404,
        SubmissionRefused: (422, lambda exc: {"problems": list(exc.problems)}),
        ClaimsError: 422,
        PolicyError: 422,
    }
    # what each HTTP route takes, for the OpenAPI document (services/messaging/openapi.py)
    http_docs = {
        "http_create": Route("新建申请（草稿）", schemas.NewClaimSchema, created=True),
        "http_attach": Route(
            "上传材料（JPEG、PNG、PDF，文件即请求体）",
            FILE_BODY,
            query={
                "document": "材料名称（一个文件可作多份材料：重复此参数）",
                "filename": "文件名",
            },
            created=True,
        ),
        "http_submit": Route("提交申请", schemas.SubmitBody),
        "http_update": Route("修改草稿或退回的申请", schemas.ClaimChangesSchema),
        "http_remove_attachment": Route("删除一份材料"),
        "http_claim": Route("查看申请"),
        "http_approve": Route("核准申请（审核人不能是提交人）", schemas.ApproveBody),
        "http_return": Route("退回申请，说明原因", schemas.DecisionBody),
        "http_reject": Route("拒付申请，说明原因", schemas.DecisionBody),
    }

    def _cover(self, city: str, id_number: str, on_date: date):
        return self.enrollment.cover(city, id_number, on_date.isoformat())

    def _clerks_cover(self, city: str, id_number: str, on_date: date):
        """cover, refused (403) when it names a unit outside the calling clerk's scope."""
        covered = self._cover(city, id_number, on_date)
        admit_cover(self.access.identity, covered)
        return covered

    # ---- intake ---------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def create_claim(
        self,
        city: str,
        year: int,
        id_number: str,
        facts: dict,
        actor: str | None = None,
        name: str | None = None,
        payee_card: str | None = None,
    ) -> dict:
        actor = self.access.actor(actor)
        request = check(
            schemas.CreateClaimArgs,
            "申请",
            city=city,
            year=year,
            id_number=id_number,
            facts=facts,
            actor=actor,
            name=name,
            payee_card=payee_card,
        )
        city, actor = request.pop("city"), request.pop("actor")
        claim = ops.create_claim(
            self.db.session,
            self.policies.get(city),
            actor=actor,
            cover=self._clerks_cover,
            **request,
        )
        return _claim(claim)

    @rpc(expected_exceptions=EXPECTED)
    def add_attachment(
        self,
        claim_id: str,
        document: str | list[str],
        filename: str,
        content_base64: str,
        actor: str | None = None,
    ) -> dict:
        """Attach a file (base64: RPC travels as JSON) as one document or, given a list of
        names, as each of them."""
        return self._attach(claim_id, document, filename, _bytes(content_base64), actor)

    def _attach(
        self, claim_id: str, documents: str | list[str], filename: str, data: bytes, actor: str
    ) -> dict:
        wanted = [documents] if isinstance(documents, str) else documents
        check(
            schemas.AddAttachmentArgs,
            "材料",
            claim_id=claim_id,
            documents=wanted,
            filename=filename,
            actor=actor,
        )
        session = self.db.session
        claim = ops.get_claim(session, claim_id)
        attachment = attachments.add_attachment(
            session,
            self.policies.get(claim.city),
            claim_id=claim_id,
            documents=documents,
            filename=filename,
            data=data,
            actor=actor,
        )
        return {
            "attachment_id": attachment.id,
            "documents": attachment.document_names,
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "sha256": attachment.sha256,
            "size": attachment.size,
        }

    @rpc(expected_exceptions=EXPECTED)
    def submit(
        self, claim_id: str, actor: str | None = None, not_applicable: dict | None = None
    ) -> dict:
        actor = self.access.actor(actor)
        check(
            schemas.SubmitArgs,
            "提交",
            claim_id=claim_id,
            actor=actor,
            not_applicable=not_applicable,
        )
        session = self.db.session
        claim = ops.get_claim(session, claim_id)
        claim = ops.submit(
            session,
            self.policies.get(claim.city),
            claim_id=claim_id,
            actor=actor,
            today=self.today(),
            cover=self._clerks_cover,
            record=self.outbox.record,
            not_applicable=not_applicable,
        )
        return _claim(claim)

    @rpc(expected_exceptions=EXPECTED)
    def update_claim(self, claim_id: str, changes: dict, actor: str | None = None) -> dict:
        actor = self.access.actor(actor)
        """Correct a draft or returned claim: ``changes`` as PATCH /claims/<id> takes them."""
        check(schemas.UpdateClaimArgs, "修改", claim_id=claim_id, changes=changes, actor=actor)
        fields = load(schemas.ClaimChangesSchema, changes, "changes")
        return _claim(ops.update_claim(self.db.session, claim_id=claim_id, actor=actor, **fields))

    @rpc(expected_exceptions=EXPECTED)
    def remove_attachment(
        self, claim_id: str, attachment_id: str, actor: str | None = None
    ) -> dict:
        actor = self.access.actor(actor)
        check(
            schemas.RemoveAttachmentArgs,
            "删除材料",
            claim_id=claim_id,
            attachment_id=attachment_id,
            actor=actor,
        )
        session = self.db.session
        attachments.remove_attachment(
            session, claim_id=claim_id, attachment_id=attachment_id, actor=actor
        )
        return {
            "claim_id": claim_id,
            "attachments": attachments.list_attachments(session, claim_id=claim_id),
        }

    # ---- review ---------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def approve(self, claim_id: str, actor: str | None = None, reason: str | None = None) -> dict:
        actor = self.access.actor(actor)
        check(schemas.ApproveArgs, "审核", claim_id=claim_id, actor=actor, reason=reason)
        claim = ops.approve(
            self.db.session,
            self.policies.get,  # the city from the claim approve locks: no read of its own
            claim_id=claim_id,
            actor=actor,
            today=self.today(),
            record=self.outbox.record,
            reason=reason,
        )
        return _claim(claim)

    @rpc(expected_exceptions=EXPECTED)
    def return_claim(
        self, claim_id: str, actor: str | None = None, reason: str | None = None
    ) -> dict:
        actor = self.access.actor(actor)
        check(schemas.DecisionArgs, "退回", claim_id=claim_id, actor=actor, reason=reason)
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
    def reject(self, claim_id: str, actor: str | None = None, reason: str | None = None) -> dict:
        actor = self.access.actor(actor)
        check(schemas.DecisionArgs, "不予补助", claim_id=claim_id, actor=actor, reason=reason)
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
        check(schemas.ClaimArgs, "查询", claim_id=claim_id)
        session = self.db.session
        found = ops.get_claim(session, claim_id)
        data = _claim(found)
        # the member's ID in full only where the rule unmasks it (a reviewer on one claim)
        data["id_number"] = found.id_number if self.access.unmasked else mask_id(found.id_number)
        data["history"] = ops.history(session, claim_id=claim_id)
        data["attachments"] = attachments.list_attachments(session, claim_id=claim_id)
        return data

    @rpc(expected_exceptions=EXPECTED)
    def attachment(self, claim_id: str, attachment_id: str) -> dict:
        """One file of a claim with its bytes (base64: RPC travels as JSON), for the claim's
        reviewer or its unit's clerk (access.py): its safe stored name and the type read
        from its content, so a page may show it inline."""
        check(schemas.AttachmentArgs, "查看材料", claim_id=claim_id, attachment_id=attachment_id)
        found, content = attachments.attachment_content(
            self.db.session, attachment_id=attachment_id, claim_id=claim_id
        )
        if content is None:
            raise NotStored(
                f"材料 {found.filename} 存放在外部存储（{found.storage_key}），请到存储中查看"
            )
        return {
            "attachment_id": found.id,
            "documents": found.document_names,
            "filename": found.filename,
            "content_type": found.content_type,
            "size": found.size,
            "sha256": found.sha256,
            "content_base64": base64.b64encode(content).decode("ascii"),
        }

    @rpc(expected_exceptions=EXPECTED)
    def review_queue(
        self,
        city: str,
        year: int | None = None,
        within_days: int = 3,
        limit: int = queues.PAGE,
        offset: int = 0,
    ) -> dict:
        """One page of the city's queue (``limit`` claims from ``offset``, most urgent first)."""
        check(
            schemas.ReviewQueueArgs,
            "查询",
            city=city,
            year=year,
            within_days=within_days,
            limit=limit,
            offset=offset,
        )
        return queues.review_queue(
            self.db.session,
            city=city,
            today=self.today(),
            within_days=within_days,
            year=year,
            limit=limit,
            offset=offset,
            benefit_of=self._benefit,
        )

    def _benefit(self, city: str, year: int, code: str):
        return next((b for b in self.policies.get(city).benefits(year) if b.code == code), None)

    @rpc(expected_exceptions=EXPECTED)
    def list_claims(self, city: str, year: int, status: str | None = None) -> list[dict]:
        check(schemas.ListClaimsArgs, "查询", city=city, year=year, status=status)
        return queues.list_claims(self.db.session, city=city, year=year, status=status)

    @rpc(expected_exceptions=EXPECTED)
    def unit_claims(
        self,
        city: str,
        year: int,
        unit_id: str,
        district: str | None = None,
        limit: int = queues.PAGE,
        offset: int = 0,
    ) -> dict:
        """One page of a unit's claims of a year, newest first, with the caller's own drafts
        not yet tied to a unit (a clerk's list: access.py keeps it to their unit or
        district); ``next_offset`` where the next page starts."""
        check(
            schemas.UnitClaimsArgs,
            "查询",
            city=city,
            year=year,
            unit_id=unit_id,
            district=district,
            limit=limit,
            offset=offset,
        )
        identity = self.access.identity
        return queues.unit_claims(
            self.db.session,
            city=city,
            year=year,
            unit_id=unit_id,
            district=district,
            owner=identity.actor if identity else None,
            limit=limit,
            offset=offset,
            benefit_of=self._benefit,
        )

    @rpc(expected_exceptions=EXPECTED)
    def member_claims(self, city: str, member_ids: list[str]) -> list[dict]:
        """The claims of enrollment's members (members_by_phone) in ``city``, newest first,
        each with its history; ID numbers masked (the help desk's look-up by phone)."""
        check(schemas.MemberClaimsArgs, "查询", city=city, member_ids=member_ids)
        return queues.member_claims(self.db.session, city=city, member_ids=member_ids)

    @rpc(expected_exceptions=EXPECTED)
    def notice_details(self, claim_id: str) -> dict:
        """What notify tells the member: the latest reason, the card's last four digits only."""
        check(schemas.ClaimArgs, "查询", claim_id=claim_id)
        claim = ops.get_claim(self.db.session, claim_id)
        reasons = [h["reason"] for h in ops.history(self.db.session, claim_id=claim_id)]
        return {
            **_claim(claim),
            "member_id": claim.member_id,
            "unit_id": claim.unit_id,
            "reason": claim.returned_reason or next((r for r in reversed(reasons) if r), None),
            "card_last4": (claim.payee_card or "")[-4:] or None,
        }

    # ---- money ----------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def payout_details(self, claim_id: str) -> dict:
        """What payments needs to pay an approved claim (amount, payee card, member), and the
        unit's district, so that payments pays from the account the city routes the unit's
        premiums to (Quzhou: by district block): the claim's own, else (a claim made before
        claims kept it) enrollment's."""
        check(schemas.ClaimArgs, "查询", claim_id=claim_id)
        details = payouts.payout_details(self.db.session, claim_id=claim_id)
        if details.get("district") is None and details.get("unit_id"):
            # the read ends before enrollment is asked: on SQLite it holds the file's write
            # lock, which no transaction keeps while it waits for another service
            # (services/messaging/database.py)
            self.db.commit()
            details["district"] = self.enrollment.unit_contact(details["unit_id"]).get("district")
        return details

    @rpc(expected_exceptions=EXPECTED)
    def retry_payout(
        self, claim_id: str, actor: str | None = None, reason: str | None = None
    ) -> dict:
        actor = self.access.actor(actor)
        check(schemas.RetryPayoutArgs, "重新支付", claim_id=claim_id, actor=actor, reason=reason)
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
        actor = self.access.actor(actor)
        check(
            schemas.ClawbackArgs,
            "追回",
            claim_id=claim_id,
            exclusion=exclusion,
            actor=actor,
            reason=reason,
        )
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
        payouts.on_payout_succeeded(
            self.db.session, event=event, record=self.outbox.record, today=self.today()
        )

    @event_handler("payments", "payout_failed")
    def on_payout_failed(self, event: dict) -> None:
        payouts.on_payout_failed(self.db.session, event=event, record=self.outbox.record)

    @event_handler("payments", "payout_returned")
    def on_payout_returned(self, event: dict) -> None:
        payouts.on_payout_returned(self.db.session, event=event, record=self.outbox.record)

    # ---- HTTP -----------------------------------------------------------------------------

    @http("POST", "/claims")
    def http_create(self, request):
        fields = load(schemas.NewClaimSchema, read_json(request))
        return 201, self.create_claim(
            fields["city"],
            fields["year"],
            fields["id_number"],
            fields["facts"],
            request.actor,
            fields["name"],
            fields["payee_card"],
        )

    @http("POST", "/claims/<string:claim_id>/attachments")
    def http_attach(self, request, claim_id: str):
        documents = request.args.getlist("document")  # ?document=出院小结&document=费用清单
        filename = request.args.get("filename") or "attachment"
        if not documents:
            raise HttpError(400, "缺少 document（材料名称）")
        # the body's bytes go to the domain as they are: no base64 copies
        return 201, self._attach(claim_id, documents, filename, request.get_data(), request.actor)

    @http("POST", "/claims/<string:claim_id>/submit")
    def http_submit(self, request, claim_id: str):
        fields = load(schemas.SubmitBody, read_json(request), "提交")
        return self.submit(claim_id, request.actor, fields["not_applicable"])

    @http("PATCH", "/claims/<string:claim_id>")
    def http_update(self, request, claim_id: str):
        return self.update_claim(claim_id, read_json(request), request.actor)

    @http("DELETE", "/claims/<string:claim_id>/attachments/<string:attachment_id>")
    def http_remove_attachment(self, request, claim_id: str, attachment_id: str):
        return self.remove_attachment(claim_id, attachment_id, request.actor)

    @http("POST", "/claims/<string:claim_id>/approve")
    def http_approve(self, request, claim_id: str):
        body = load(schemas.ApproveBody, read_json(request), "审核")
        return self.approve(claim_id, request.actor, body["reason"])

    @http("POST", "/claims/<string:claim_id>/return")
    def http_return(self, request, claim_id: str):
        body = load(schemas.DecisionBody, read_json(request), "审核")
        return self.return_claim(claim_id, request.actor, body["reason"])

    @http("POST", "/claims/<string:claim_id>/reject")
    def http_reject(self, request, claim_id: str):
        body = load(schemas.DecisionBody, read_json(request), "审核")
        return self.reject(claim_id, request.actor, body["reason"])

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
        actor = self.access.actor(actor)
        check(
            schemas.ImportSettlementsArgs,
            "结算记录",
            city=city,
            year=year,
            actor=actor,
            filename=filename,
            content_base64=content_base64,
            records=records,
        )
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
        check(schemas.StatisticsArgs, "查询", city=city, year=year)
        policy = self.policies.get(city)
        premiums = {  # payments' ledger: premiums received per unit-year, asked before the
            # transaction begins (on SQLite no transaction waits for another service holding
            # the file's write lock: services/messaging/database.py)
            row["unit_id"]: parse_money(row["received"], name="received")
            for row in self.payments.unit_premiums(city, year)
            if row["unit_id"]
        }
        session = self.db.session
        answer = statistics.claim_statistics(session, city=city, year=year, policy=policy)
        answer["reimbursement"] = statistics.reimbursement(
            session, city=city, year=year, premiums=premiums
        )
        return answer
