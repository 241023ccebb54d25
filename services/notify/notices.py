"""What each consumed event becomes: whom to tell, with which template and parameters.

Framework-free: `directory` answers the details the events do not carry (the owning services'
RPC in the running service; a stand-in in tests):
    enrollment: notice_recipients(application_id) {unit_id, unit_name, contact_phone,
                    members: [{member_id, name, phone}]}
                unit_contact(unit_id) {unit_id, name, contact_phone}
                member_contact(member_id) {member_id, name, phone}
    claims:     notice_details(claim_id) {claim_id, name, member_id, unit_id, benefit,
                    payable, reason, card_last4}
    payments:   invoice(invoice_id) {unit_id, member_id, …}   (payment_held only)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.orm import Session

from services.kernel.hooks import hook
from services.kernel.money import format_money
from services.notify import schemas
from services.notify.sending import Notice, Settings, enqueue
from services.notify.templates import CityTemplates, city_templates

HOLD_REASONS = {
    "short": "金额不足",
    "over": "金额超出",
    "unknown_reference": "附言无法识别",
    "currency": "币种不符",
    "late": "超过缴费期限",
    "account": "账户不符",
}


class Directory(Protocol):
    def notice_recipients(self, application_id: str) -> dict: ...
    def application_reason(self, application_id: str) -> str | None: ...
    def unit_contact(self, unit_id: str) -> dict: ...
    def member_contact(self, member_id: str) -> dict: ...
    def notice_details(self, claim_id: str) -> dict: ...
    def invoice(self, invoice_id: str) -> dict: ...


class Context:
    """What every event needs: the session, the clock's now, the cities' texts, settings."""

    def __init__(
        self,
        session: Session,
        *,
        policies: Any,
        directory: Directory,
        now: datetime,
        settings: Settings,
    ):
        self.session, self.policies, self.directory = session, policies, directory
        self.now, self.settings = now, settings

    def templates(self, city: str, year: int) -> CityTemplates:
        return city_templates(self.policies.get(city), year)

    def send(self, event: dict, event_type: str, template: str, notices: list[Notice]) -> int:
        return enqueue(
            self.session,
            notices,
            event_id=event["event_id"],
            event_type=event_type,
            city=event["city"],
            year=event["year"],
            now=self.now,
            settings=self.settings,
        )


def _amount(value: Decimal | str | None) -> str:
    return format_money(Decimal(value)) if value not in (None, "") else ""


def members_enrolled(ctx: Context, payload: object) -> int:
    event = schemas.load(schemas.MembersEnrolled, payload, "members_enrolled")
    found = ctx.directory.notice_recipients(event["application_id"])
    texts = ctx.templates(event["city"], event["year"])
    city = ctx.policies.get(event["city"]).name
    notices = [
        Notice(
            f"member:{m['member_id']}",
            m.get("phone"),
            texts.render(
                "members_enrolled",
                name=m.get("name"),
                unit=found["unit_name"],
                city=city,
                year=event["year"],
            ),
        )
        for m in found["members"]
    ]
    return ctx.send(event, "members_enrolled", "members_enrolled", notices)


def _to_unit(ctx: Context, event: dict, event_type: str, unit_id: str, **values: Any) -> int:
    unit = ctx.directory.unit_contact(unit_id)
    texts = ctx.templates(event["city"], event["year"])
    rendered = texts.render(event_type, unit=unit["name"], year=event["year"], **values)
    notice = Notice(f"unit:{unit_id}", unit.get("contact_phone"), rendered)
    return ctx.send(event, event_type, event_type, [notice])


def application_returned(ctx: Context, payload: object) -> int:
    event = schemas.load(schemas.ApplicationReturned, payload, "application_returned")
    reason = ctx.directory.application_reason(event["application_id"])
    return _to_unit(ctx, event, "application_returned", event["unit_id"], reason=reason)


def premium_paid(ctx: Context, payload: object) -> int:
    event = schemas.load(schemas.PremiumPaid, payload, "premium_paid")
    amount = _amount(event["amount"])
    if event["unit_id"]:
        return _to_unit(ctx, event, "premium_paid", event["unit_id"], amount=amount)
    if event["member_id"]:  # a member paying their own share (Wujin)
        return _to_member(ctx, event, "premium_paid", event["member_id"], amount=amount)
    return 0


def payment_held(ctx: Context, payload: object) -> int:
    event = schemas.load(schemas.PaymentHeld, payload, "payment_held")
    if not event["invoice_id"]:
        return 0  # an unknown reference: nobody to tell but finance, who see it at the desk
    invoice = ctx.directory.invoice(event["invoice_id"])
    event["year"] = invoice.get("year") or 0
    reason = HOLD_REASONS.get(event["reason"], event["reason"])
    values = {"amount": _amount(event["amount"]), "reason": reason}
    if invoice.get("unit_id"):
        return _to_unit(ctx, event, "payment_held", invoice["unit_id"], **values)
    if invoice.get("member_id"):
        return _to_member(ctx, event, "payment_held", invoice["member_id"], **values)
    return 0


def _to_member(
    ctx: Context,
    event: dict,
    template: str,
    member_id: str,
    claim_id: str | None = None,
    **values: Any,
) -> int:
    member = ctx.directory.member_contact(member_id)
    texts = ctx.templates(event["city"], event["year"])
    rendered = texts.render(template, name=member.get("name"), **values)
    notice = Notice(f"member:{member_id}", member.get("phone"), rendered, claim_id=claim_id)
    return ctx.send(event, template, template, [notice])


def _benefit_name(ctx: Context, city: str, year: int, code: str) -> str:
    for benefit in ctx.policies.get(city).benefits(year):
        if benefit.code == code:
            return benefit.name
    return code


def claim_event(template: str) -> Callable[[Context, object], int]:
    """claim_submitted / approved / returned / rejected: to the member, about the claim."""

    def handle(ctx: Context, payload: object) -> int:
        event = schemas.load(schemas.ClaimEvent, payload, template)
        if template == "claim_approved" and (event["attempt"] or 1) > 1:
            return 0  # a payout retried: claims announces the approval again for payments;
            # the member was told of it once (the payout's own SMS follows)
        claim = ctx.directory.notice_details(event["claim_id"])
        if not claim.get("member_id"):
            return 0  # a hospital's direct settlement: no member claimed it
        return _to_member(
            ctx,
            event,
            template,
            claim["member_id"],
            claim_id=event["claim_id"],
            benefit=_benefit_name(ctx, event["city"], event["year"], event["benefit"]),
            amount=_amount(claim.get("payable")),
            reason=claim.get("reason") or "",
        )

    return handle


def _advice(ctx: Context, claim: dict, texts: CityTemplates, reason: str | None) -> str:
    """The SMS file's words for the reason, else the city's year data (the notice's advice,
    the payout_failure_advice hook), else the SMS file's or the platform's default."""
    if reason and reason in texts.advice:
        return texts.advice[reason]
    policy = ctx.policies.get(claim["city"])
    found = hook(policy, "payout_failure_advice")(claim["year"], reason or "")
    return found.advice if found is not None else texts.advice_for(reason)


def _payout(ctx: Context, payload: object, template: str) -> int:
    event = schemas.load(schemas.PayoutEvent, payload, template)
    claim = ctx.directory.notice_details(event["claim_id"])
    event.update(city=claim["city"], year=claim["year"])
    texts = ctx.templates(claim["city"], claim["year"])
    return _to_member(
        ctx,
        event,
        template,
        claim["member_id"],
        claim_id=event["claim_id"],
        amount=_amount(event["amount"] or claim.get("payable")),
        card=claim.get("card_last4") or "",
        advice=_advice(ctx, claim, texts, event["failure_reason"]),
    )


def payout_succeeded(ctx: Context, payload: object) -> int:
    return _payout(ctx, payload, "payout_succeeded")


def payout_failed(ctx: Context, payload: object) -> int:
    return _payout(ctx, payload, "payout_failed")


HANDLERS: dict[str, Callable[[Context, object], int]] = {
    "members_enrolled": members_enrolled,
    "application_returned": application_returned,
    "premium_paid": premium_paid,
    "payment_held": payment_held,
    "claim_submitted": claim_event("claim_submitted"),
    "claim_approved": claim_event("claim_approved"),
    "claim_returned": claim_event("claim_returned"),
    "claim_rejected": claim_event("claim_rejected"),
    "payout_succeeded": payout_succeeded,
    "payout_failed": payout_failed,
}
