"""The events the claims service handles (from payments), one marshmallow schema each.

services/claims/events.py lists them; payouts.py loads each payload here before it changes
anything, so a malformed event (a key missing, an amount that is not "1000.00") is refused
whole, with every bad field named, and parked as a dead letter with that reason
(services/messaging/handlers.py) instead of being half applied.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from services.claims import events
from services.claims.models import Claim
from services.kernel.schemas import Text, length_of
from services.messaging.payloads import EventAmount, EventSchema, attempt, load_payload

REASON_LENGTH = 500  # a bank's own words, kept in the claim's history


class PayoutSucceededSchema(EventSchema):
    """payout_succeeded {v, event_id, claim_id, payout_id, amount, paid_on?}"""

    claim_id = Text(length_of(Claim.id), required=True)
    payout_id = Text(length_of(Claim.payout_id), required=True)
    amount = EventAmount(required=True)
    paid_on = fields.Date(load_default=None)


class PayoutFailedSchema(EventSchema):
    """payout_failed {v, event_id, claim_id, payout_id, reason, attempt?}"""

    claim_id = Text(length_of(Claim.id), required=True)
    payout_id = Text(length_of(Claim.payout_id), required=True)
    reason = Text(REASON_LENGTH, required=True)
    attempt = attempt(load_default=None)


class PayoutReturnedSchema(EventSchema):
    """payout_returned {v, event_id, claim_id, payout_id, amount, attempt?}"""

    claim_id = Text(length_of(Claim.id), required=True)
    payout_id = Text(length_of(Claim.payout_id), required=True)
    amount = EventAmount(required=True)
    attempt = attempt(load_default=None)


def payout_succeeded(payload: object) -> dict[str, Any]:
    """The payload with `amount` a Decimal and `paid_on` a date (or None)."""
    return load_payload(PayoutSucceededSchema(), payload, events.PAYOUT_SUCCEEDED)


def payout_failed(payload: object) -> dict[str, Any]:
    return load_payload(PayoutFailedSchema(), payload, events.PAYOUT_FAILED)


def payout_returned(payload: object) -> dict[str, Any]:
    return load_payload(PayoutReturnedSchema(), payload, events.PAYOUT_RETURNED)
