"""The events the claims service handles (from payments), one marshmallow schema each.

services/claims/events.py lists them; payouts.py loads each payload here before it changes
anything, so a malformed event (a key missing, an amount that is not "1000.00") is refused
whole, with every bad field named, and parked as a dead letter with that reason
(services/messaging/handlers.py) instead of being half applied.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from services.claims import events
from services.messaging.payloads import Amount, EventSchema, load_payload

_ID = validate.Length(min=1, max=36)
_PAYOUT_ID = validate.Length(min=1, max=60)  # claims.payout_id


class PayoutSucceededSchema(EventSchema):
    """payout_succeeded {v, event_id, claim_id, payout_id, amount, paid_on?}"""

    claim_id = fields.String(required=True, validate=_ID)
    payout_id = fields.String(required=True, validate=_PAYOUT_ID)
    amount = Amount(required=True)
    paid_on = fields.Date(load_default=None)


class PayoutFailedSchema(EventSchema):
    """payout_failed {v, event_id, claim_id, payout_id, reason, attempt?}"""

    claim_id = fields.String(required=True, validate=_ID)
    payout_id = fields.String(required=True, validate=_PAYOUT_ID)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    attempt = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=1, error="应为正整数")
    )


def payout_succeeded(payload: object) -> dict[str, Any]:
    """The payload with `amount` a Decimal and `paid_on` a date (or None)."""
    return load_payload(PayoutSucceededSchema(), payload, events.PAYOUT_SUCCEEDED)


def payout_failed(payload: object) -> dict[str, Any]:
    return load_payload(PayoutFailedSchema(), payload, events.PAYOUT_FAILED)
