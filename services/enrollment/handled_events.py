"""The events the enrollment service handles, one marshmallow schema each (as claims'
handled_events.py): a malformed payload is refused whole and parked as a dead letter.

    payments.premium_paid {v, event_id, invoice_id, receipt_id, application_id, unit_id,
                           member_id, city, year, amount, paid_in_full}
        application_id is null for a member's own payment (Wujin): nothing to record here.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from services.kernel.schemas import Text
from services.messaging.payloads import EventAmount, EventSchema, load_payload

ID_LENGTH = 36


class PremiumPaidSchema(EventSchema):
    invoice_id = Text(ID_LENGTH, required=True)
    receipt_id = Text(ID_LENGTH, required=True)
    application_id = Text(ID_LENGTH, load_default=None)
    amount = EventAmount(required=True)
    paid_in_full = fields.Boolean(required=True)


def premium_paid(payload: object) -> dict[str, Any]:
    return load_payload(PremiumPaidSchema(), payload, "premium_paid")
