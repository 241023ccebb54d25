"""The help desk's page of the console (客服): a member phones the union; the help desk types
their mobile number, or a claim's number, and reads back where each claim stands (its status
and amount, the latest change and its reason) and which SMS were sent (when, which notice,
whether it was delivered). A mixin of ConsoleService (service.py), which holds the
dependencies and the frame (`_page`).

Every call goes as the signed-in person, so the services' access tables decide and mask:
enrollment lets the help desk find its city's members by phone, ID numbers masked, and
claims list their claims (services/enrollment/access.py, services/claims/access.py); claims
lets the help desk read a claim of its city, its ID number masked
(services/claims/access.py READERS); notify lets it read its city's messages, phones, cards
and IDs masked (services/notify/access.py). The page is the help desk's alone: a reviewer
reads a claim on its own page, where claims shows the ID number in full and logs the read as
a review, which a help desk's look-up is not.

By phone, the claims shown are those of the members whose phone it is (enrollment's
members_by_phone, then claims' member_claims: a draft, a claim just made, which sent no SMS
yet) with those that number's SMS were about (notify writes to a member when a claim is
submitted, approved, returned, rejected, paid), each once, newest first. The number typed
travels in a POST, never in the address (kept in the browser's history and in access logs),
and comes back only masked; a number that is not a mobile, or a claim that is not there or
not theirs, is one message above the forms, what was typed kept in its field.

    GET  /console/help     the forms
    POST /console/help     phone=… or claim=…: the claims and the SMS, in place
"""

from __future__ import annotations

from nameko.exceptions import RemoteError

from services.access.identity import HELP_DESK
from services.console import refusals
from services.console.pages import local_times
from services.kernel.errors import PolicyError
from services.kernel.phone import parse_mobile
from services.kernel.privacy import mask_phone, mask_text
from services.messaging.web import http

DESK = {HELP_DESK}
FORM_LIMIT = 64 * 1024
NOT_A_MOBILE = "这不是手机号码：手机号码是以 1 开头的 11 位数字，请核对后重新输入。"
NO_SUCH_CLAIM = "没有找到这个编号的理赔申请，或它不在您的查询范围内。请核对申请编号。"

# notify's templates (services/notify/templates.py EVENTS) as the member knows the notice
SMS_NOTICES = {
    "members_enrolled": "参保成功",
    "application_returned": "参保申请退回",
    "premium_paid": "互助金到账",
    "payment_held": "汇款暂未入账",
    "claim_submitted": "补助申请受理",
    "claim_approved": "补助审核通过",
    "claim_returned": "补助申请退回",
    "claim_rejected": "不予补助",
    "payout_succeeded": "补助金已支付",
    "payout_failed": "补助金支付失败",
}
# notify's message states (services/notify/models.py STATUSES)
SMS_STATES = {
    "queued": "待发送",
    "sending": "发送中",
    "sent": "已发出，等待回执",
    "delivered": "已送达",
    "undelivered": "未送达",
    "failed": "发送失败",
    "suppressed": "未发送（会员已退订）",
    "no_phone": "未发送（没有手机号）",
}


class HelpDeskPages:
    @http("GET", "/console/help", auth=False)
    def help_desk(self, request):
        return self._page(request, self._help_desk, request, roles=DESK)

    @http("POST", "/console/help", auth=False, max_body=FORM_LIMIT)
    def help_desk_lookup(self, request):
        return self._page(request, self._help_desk, request, roles=DESK, post=True)

    def _help_desk(self, me, request):
        form = {"phone": "", "claim": ""}
        found, refused, status = None, None, 200
        if request.method == "POST":
            typed = {k: (request.form.get(k) or "").strip() for k in form}
            if "claim" in request.form:  # the claim number's form
                found, refused, status = self._by_claim(typed["claim"])
                form["claim"] = typed["claim"]
            else:
                found, refused, status = self._by_phone(me, typed["phone"])
                if refused:  # kept to be corrected; a number found comes back masked only
                    form["phone"] = typed["phone"]
        response = self._render(
            "help.html",
            form=form,
            found=found,
            refused=refused,
            notices=SMS_NOTICES,
            states=SMS_STATES,
        )
        response.status_code = status
        return response

    def _by_phone(self, me, typed: str):
        if not typed:
            return None, "请输入会员的手机号码。", 422
        checked = parse_mobile(typed)
        if not checked.valid:
            return None, NOT_A_MOBILE, 422
        messages = self.notify.sent_to(checked.number)  # newest first
        claims = {c["claim_id"]: c for c in self._members_claims(me, checked.number)}
        for claim_id in dict.fromkeys(m["claim_id"] for m in messages if m.get("claim_id")):
            if claim_id in claims:
                continue
            try:
                claims[claim_id] = self.claims.claim(claim_id)
            except RemoteError as exc:
                if not refusals.forbidden(exc):
                    raise
                # notify keeps to the person's city, and claims answers that city's claims:
                # a claim it refuses here is not theirs to read, and is not listed
        newest_first = sorted(claims.values(), key=_created_at, reverse=True)
        return (
            {
                "by": "phone",
                "title": f"手机号 {mask_phone(checked.number)}",
                "claims": [self._claim_summary(c) for c in newest_first],
                "messages": _messages(messages),
            },
            None,
            200,
        )

    def _members_claims(self, me, number: str) -> list[dict]:
        """The claims of the members whose phone this is, as enrollment knows them: a draft
        or a claim just made has sent no SMS yet. A help desk of every city (its token names
        none) asks in each city installed."""
        claims = []
        for city in [me.city] if me.city else [c.code for c in self.policies]:
            members = self.enrollment.members_by_phone(city, number)
            member_ids = list(dict.fromkeys(m["member_id"] for m in members))
            if member_ids:
                claims += self.claims.member_claims(city, member_ids)
        return claims

    def _by_claim(self, typed: str):
        if not typed:
            return None, "请输入理赔申请编号。", 422
        try:
            claim = self.claims.claim(typed)
        except RemoteError as exc:
            if refusals.forbidden(exc):
                return None, NO_SUCH_CLAIM, 404
            if refusals.explained(exc):  # not the shape of a claim's number
                return None, NO_SUCH_CLAIM, 422
            raise
        messages = self.notify.about_claim(claim["claim_id"])  # oldest first
        return (
            {
                "by": "claim",
                "title": f"理赔申请 {claim['name'] or claim['id_number']}",
                "claims": [self._claim_summary(claim)],
                "messages": _messages(messages),
            },
            None,
            200,
        )

    def _claim_summary(self, claim: dict) -> dict:
        """What the help desk tells the member of a claim: as claims answered it (the ID
        number masked), with the benefit's name and the latest change."""
        changes = local_times([dict(c) for c in claim.get("history") or []], "at")
        last = changes[-1] if changes else {}
        return {
            "claim_id": claim["claim_id"],
            "name": claim.get("name"),
            "id_number": claim.get("id_number"),
            "year": claim["year"],
            "benefit": self._benefit_name(claim["city"], claim["year"], claim["benefit"]),
            "status": claim["status"],
            "payable": claim.get("payable"),
            "changed_at": last.get("at"),
            "reason": last.get("reason") if claim["status"] in ("returned", "rejected") else None,
        }

    def _benefit_name(self, city: str, year: int, code: str) -> str:
        try:
            benefits = self.policies.get(city).benefits(year)
        except PolicyError:  # a city or year no longer installed: its code is what there is
            return code
        return next((b.name for b in benefits if b.code == code), code)


def _created_at(claim: dict) -> str:
    """When the claim was made: its first change (claims' history, oldest first, in UTC)."""
    history = claim.get("history") or []
    return history[0]["at"] if history else ""


def _messages(messages: list[dict]) -> list[dict]:
    """notify's listing as the page shows it: local times, and the gateway's error masked
    too (notify masks the text it wrote, not what a gateway answered)."""
    for m in messages:
        m["error"] = mask_text(m["error"]) if m.get("error") else None
    return local_times(messages, "created_at", "sent_at", "delivered_at")
