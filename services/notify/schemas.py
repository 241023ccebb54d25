"""The payloads notify consumes (one schema per event) and its RPC arguments.

Events carry ids only (DESIGN.md, "Messaging"); details are asked of their owner by RPC.
Unknown keys are ignored (services/messaging/payloads.py): a producer may add one.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from services.kernel.schemas import Strict, Text
from services.messaging.payloads import EventAmount, EventSchema, load_payload

ID = 36


class _CityYear(EventSchema):
    city = Text(40, required=True)
    year = fields.Integer(strict=True, required=True)


class MembersEnrolled(_CityYear):
    """members_enrolled {v, application_id, unit_id, city, year, members}"""

    application_id = Text(ID, required=True)
    unit_id = Text(ID, required=True)
    members = fields.Integer(strict=True, load_default=None)


class ApplicationReturned(_CityYear):
    """application_returned {v, application_id, unit_id, city, year}"""

    application_id = Text(ID, required=True)
    unit_id = Text(ID, required=True)


class PremiumPaid(_CityYear):
    """premium_paid {v, invoice_id, receipt_id, application_id, unit_id, member_id, city,
    year, amount, paid_in_full}"""

    receipt_id = Text(ID, required=True)
    unit_id = Text(ID, load_default=None)
    member_id = Text(ID, load_default=None)
    amount = EventAmount(required=True)


class PaymentHeld(EventSchema):
    """payment_held {v, receipt_id, city, invoice_id, amount, reason}"""

    receipt_id = Text(ID, required=True)
    city = Text(40, required=True)
    invoice_id = Text(ID, load_default=None)
    amount = EventAmount(required=True)
    reason = Text(40, required=True)


class ClaimEvent(_CityYear):
    """claim_submitted / claim_returned / claim_rejected / claim_approved
    {v, claim_id, city, year, benefit, unit_id, …}"""

    claim_id = Text(ID, required=True)
    benefit = Text(60, required=True)


class PayoutEvent(EventSchema):
    """payout_succeeded {v, claim_id, payout_id, amount, …} / payout_failed {v, claim_id,
    payout_id, reason, failure_reason, retryable, attempt}"""

    claim_id = Text(ID, required=True)
    payout_id = Text(60, required=True)
    amount = EventAmount(load_default=None)
    failure_reason = Text(40, load_default=None)


def load(schema: type[EventSchema], payload: object, event_type: str) -> dict[str, Any]:
    return load_payload(schema(), payload, event_type)


class OptOutArgs(Strict):
    phone = Text(20, required=True)
    opted_out = fields.Boolean(required=True)
    actor = Text(100, required=True)
    reason = Text(200, load_default=None)


class PhoneArgs(Strict):
    phone = Text(20, required=True)


class ClaimArgs(Strict):
    claim_id = Text(ID, required=True)
