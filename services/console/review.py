"""The reviewer's pages of the console: the queue by due date with the applications to
review, a claim's page (its facts, its documents shown inline, the assessment step by step
with the rule's source), the decision on a claim and on an application. A mixin of
ConsoleService (service.py), which holds the dependencies and the frame (`_page`).

A document's file is served here only as the claims service hands it to the signed-in
person (its access table: the claim's unit's clerks and the city's reviewers), with the type
the service read from the content, never sniffed, and a policy that runs nothing."""

from __future__ import annotations

import base64

from nameko.exceptions import RemoteError
from werkzeug.wrappers import Response

from services.access.identity import CITY_REVIEWER
from services.console.pages import CLERKS, inline, number, redirect
from services.messaging.web import http

# who may ask for a document's file here; the claims service decides whose files they get
VIEWERS = CLERKS | {CITY_REVIEWER}


class ReviewPages:
    @http("GET", "/console/review", auth=False)
    def review(self, request):
        return self._page(request, self._review, request, roles={CITY_REVIEWER})

    def _review(self, me, request):
        year = number(request.args.get("year")) or self.today().year
        queue = self.claims.review_queue(me.city, None, 3)
        submitted = self.enrollment.list_applications(me.city, year, "submitted")
        return self._render("review.html", queue=queue, applications=submitted, year=year)

    @http("GET", "/console/claims/<string:claim_id>", auth=False)
    def claim_page(self, request, claim_id: str):
        return self._page(request, self._claim, claim_id)

    def _claim(self, me, claim_id):
        claim = self.claims.claim(claim_id)
        benefits = self.policies.get(claim["city"]).benefits(claim["year"])
        benefit = next((b for b in benefits if b.code == claim["benefit"]), None)
        attached = {d for a in claim.get("attachments") or [] for d in a.get("documents") or []}
        documents = [
            {"name": d, "attached": d in attached} for d in (benefit.attachments if benefit else ())
        ]
        return self._render(
            "claim.html",
            claim=claim,
            benefit_name=benefit.name if benefit else None,
            documents=documents,
            # the reviewer reads the documents on the page; the clerk who uploaded them gets
            # links (a phone would otherwise load every PDF on each upload's page)
            inline=me.role == CITY_REVIEWER,
            links=me.role in VIEWERS,
        )

    @http(
        "GET",
        "/console/claims/<string:claim_id>/attachments/<string:attachment_id>",
        auth=False,
    )
    def attachment(self, request, claim_id: str, attachment_id: str):
        return self._page(request, self._attachment, claim_id, attachment_id, roles=VIEWERS)

    def _attachment(self, me, claim_id, attachment_id) -> Response:
        found = self.claims.attachment(claim_id, attachment_id)  # theirs, or the 403 page
        return inline(
            base64.b64decode(found["content_base64"]), found["filename"], found["content_type"]
        )

    @http("POST", "/console/claims/<string:claim_id>/decide", auth=False, max_body=64 * 1024)
    def decide(self, request, claim_id: str):
        return self._page(
            request, self._decide, request, claim_id, roles={CITY_REVIEWER}, post=True
        )

    def _decide(self, me, request, claim_id):
        action = request.form.get("action")
        reason = (request.form.get("reason") or "").strip() or None
        if action == "approve":
            self.claims.approve(claim_id, reason=reason)
        elif action == "return":
            self.claims.return_claim(claim_id, reason=reason)
        elif action == "reject":
            self.claims.reject(claim_id, reason=reason)
        else:
            raise RemoteError("InvalidRequest", "请选择通过、退回或不予给付")
        return redirect(f"/console/claims/{claim_id}")

    @http(
        "POST",
        "/console/applications/<string:application_id>/review",
        auth=False,
        max_body=64 * 1024,
    )
    def review_application(self, request, application_id: str):
        return self._page(
            request,
            self._review_application,
            request,
            application_id,
            roles={CITY_REVIEWER},
            post=True,
        )

    def _review_application(self, me, request, application_id):
        if request.form.get("action") == "approve":
            self.enrollment.approve(application_id)
        else:
            reason = (request.form.get("reason") or "").strip() or None
            self.enrollment.return_application(application_id, reason=reason)
        return redirect(f"/console/applications/{application_id}")
