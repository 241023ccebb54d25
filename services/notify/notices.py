"""What each consumed event becomes: whom to tell, with which template and parameters.

Two steps, so that no transaction is open while the owners are asked: a handler in HANDLERS
asks (`directory`) and renders, touching no database, and returns the `Outgoing` notices;
`record` then queues them in the service's transaction (sending.enqueue). On SQLite that
transaction's first statement takes the file's write lock, which must not be held while an
RPC answer is awaited (services/messaging/database.py).

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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Outgoing:
    """One event's notices, all of one template, ready to be queued."""

    event_id: str
    event_type: str
    city: str
    year: int
    notices: list[Notice]


class Context:
    """What every event needs: the cities' texts and the owners' answers (no database)."""

    def __init__(self, *, policies: Any, directory: Directory):
        self.policies, self.directory = policies, directory

    def templates(self, city: str, year: int) -> CityTemplates:
        return city_templates(self.policies.get(city), year)


def _outgoing(event: dict, event_type: str, notices: list[Notice]) -> Outgoing:
    return Outgoing(event["event_id"], event_type, event["city"], event["year"], notices)


def record(session: Session, outgoing: Outgoing, *, now: datetime, settings: Settings) -> int:
    """Queue an event's notices (those queued for it already are left alone); how many new."""
    return enqueue(
        session,
        outgoing.notices,
        event_id=outgoing.event_id,
        event_type=outgoing.event_type,
        city=outgoing.city,
        year=outgoing.year,
        now=now,
        settings=settings,
    )


def _amount(value: Decimal | str | None) -> str:
    return format_money(Decimal(value)) if value not in (None, "") else ""


def members_enrolled(ctx: Context, payload: object) -> Outgoing:
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
    return _outgoing(event, "members_enrolled", notices)


def _to_unit(ctx: Context, event: dict, event_type: str, unit_id: str, **values: Any) -> Outgoing:
    unit = ctx.directory.unit_contact(unit_id)
    texts = ctx.templates(event["city"], event["year"])
    rendered = texts.render(event_type, unit=unit["name"], year=event["year"], **values)
    notice = Notice(f"unit:{unit_id}", unit.get("contact_phone"), rendered)
    return _outgoing(event, event_type, [notice])


def application_returned(ctx: Context, payload: object) -> Outgoing | None:
    event = schemas.load(schemas.ApplicationReturned, payload, "application_returned")
    reason = ctx.directory.application_reason(event["application_id"])
    return _to_unit(ctx, event, "application_returned", event["unit_id"], reason=reason)


def premium_paid(ctx: Context, payload: object) -> Outgoing | None:
    event = schemas.load(schemas.PremiumPaid, payload, "premium_paid")
    amount = _amount(event["amount"])
    if event["unit_id"]:
        return _to_unit(ctx, event, "premium_paid", event["unit_id"], amount=amount)
    if event["member_id"]:  # a member paying their own share (Wujin)
        return _to_member(ctx, event, "premium_paid", event["member_id"], amount=amount)
    return None


def payment_held(ctx: Context, payload: object) -> Outgoing | None:
    event = schemas.load(schemas.PaymentHeld, payload, "payment_held")
    if not event["invoice_id"]:
        return None  # an unknown reference: nobody to tell but finance, who see it at the desk
    invoice = ctx.directory.invoice(event["invoice_id"])
    event["year"] = invoice.get("year") or 0
    reason = HOLD_REASONS.get(event["reason"], event["reason"])
    values = {"amount": _amount(event["amount"]), "reason": reason}
    if invoice.get("unit_id"):
        return _to_unit(ctx, event, "payment_held", invoice["unit_id"], **values)
    if invoice.get("member_id"):
        return _to_member(ctx, event, "payment_held", invoice["member_id"], **values)
    return None


def _to_member(
    ctx: Context,
    event: dict,
    template: str,
    member_id: str,
    claim_id: str | None = None,
    **values: Any,
) -> Outgoing:
    member = ctx.directory.member_contact(member_id)
    texts = ctx.templates(event["city"], event["year"])
    rendered = texts.render(template, name=member.get("name"), **values)
    notice = Notice(f"member:{member_id}", member.get("phone"), rendered, claim_id=claim_id)
    return _outgoing(event, template, [notice])


def _benefit_name(ctx: Context, city: str, year: int, code: str) -> str:
    for benefit in ctx.policies.get(city).benefits(year):
        if benefit.code == code:
            return benefit.name
    return code


def claim_event(template: str) -> Callable[[Context, object], Outgoing | None]:
    """claim_submitted / approved / returned / rejected: to the member, about the claim."""

    def handle(ctx: Context, payload: object) -> Outgoing | None:
        event = schemas.load(schemas.ClaimEvent, payload, template)
        if template == "claim_approved" and (event["attempt"] or 1) > 1:
            return None  # a payout retried: claims announces the approval again for payments;
            # the member was told of it once (the payout's own SMS follows)
        claim = ctx.directory.notice_details(event["claim_id"])
        if not claim.get("member_id"):
            return None  # a hospital's direct settlement: no member claimed it
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


def _payout(ctx: Context, payload: object, template: str) -> Outgoing | None:
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


def payout_succeeded(ctx: Context, payload: object) -> Outgoing | None:
    return _payout(ctx, payload, "payout_succeeded")


def payout_failed(ctx: Context, payload: object) -> Outgoing | None:
    return _payout(ctx, payload, "payout_failed")


HANDLERS: dict[str, Callable[[Context, object], Outgoing | None]] = {
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
