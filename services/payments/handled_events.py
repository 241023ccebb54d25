"""The events the payments service handles, one marshmallow schema each (the pattern of
services/claims/handled_events.py): a malformed payload is refused whole, every bad field
named, and parked as a dead letter at once (services/messaging/handlers.py).

    enrollment.application_submitted {v, event_id, application_id, unit_id, city, year}
        → the application and its quote by RPC → the invoice issued (or re-issued).
    claims.claim_approved {v, event_id, claim_id, city, year, benefit, unit_id, member_id,
                           payable, attempt}
        payable "0.00" means nothing to pay; otherwise one payout per (claim_id, attempt).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields

from services.kernel.schemas import Range, Text
from services.messaging.payloads import EventSchema, attempt, load_payload

ID_LENGTH = 36
_TWO_PLACES = re.compile(r"\d+\.\d{2}")


class Payable(fields.Field):
    """A claim's payable: "1000.00", and "0.00" allowed (nothing to pay)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or not _TWO_PLACES.fullmatch(value):
            raise ValidationError(f'应为两位小数的金额文字（如 "1000.00"），现为 {value!r}')
        return Decimal(value)


class ApplicationSubmittedSchema(EventSchema):
    application_id = Text(ID_LENGTH, required=True)
    unit_id = Text(ID_LENGTH, load_default=None)
    city = Text(40, required=True)
    year = fields.Integer(strict=True, required=True, validate=Range(min=2000, max=2100))


class ClaimApprovedSchema(EventSchema):
    claim_id = Text(ID_LENGTH, required=True)
    city = Text(40, required=True)
    year = fields.Integer(strict=True, required=True, validate=Range(min=2000, max=2100))
    payable = Payable(required=True)
    attempt = attempt(required=True)


def application_submitted(payload: object) -> dict[str, Any]:
    return load_payload(ApplicationSubmittedSchema(), payload, "application_submitted")


def claim_approved(payload: object) -> dict[str, Any]:
    return load_payload(ClaimApprovedSchema(), payload, "claim_approved")
