"""The payloads of consumed events, checked with marshmallow before a handler changes anything.

Each consumer declares one schema per event it handles (claims: services/claims/handled_events.py),
built on `EventSchema` (the version and the event id every payload carries) and, for money,
`EventAmount`. `load_payload` answers the loaded dict or raises `EventPayloadError` naming every
bad field in one line; `services.messaging.handlers.event_handler` parks such an event at once
with that line as its reason, since retrying cannot mend it. Messages, text and amount fields
are the kernel's (services/kernel/schemas.py), as at every other boundary.

Keys a schema does not know are ignored, not refused as a request's are: a producer may add a
key to a version without breaking its consumers (a new meaning is a new version, which is
refused by number).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, ValidationError, fields, validates

from services.kernel.schemas import Amount, Range, Strict, Text, load_or_raise
from services.messaging.errors import EventPayloadError

EVENT_ID_LENGTH = 36  # processed_events.event_id, dead_letters.event_id
_TWO_PLACES = re.compile(r"\d+\.\d{2}")


class EventSchema(Strict):
    """What every payload carries: `v` (the version this consumer reads) and `event_id`."""

    class Meta:
        unknown = EXCLUDE

    VERSION = 1

    v = fields.Integer(required=True, strict=True)
    event_id = Text(EVENT_ID_LENGTH, required=True)

    @validates("v")
    def _known_version(self, value: int, **_: Any) -> None:
        if value != self.VERSION:
            raise ValidationError(f"版本 {value} 不认识（只认识 {self.VERSION}）")


class EventAmount(Amount):
    """Money in an event: what `format_money` writes, a string with exactly two places
    ("1000.00"), above zero and within the kernel's bound; loaded as a Decimal."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or not _TWO_PLACES.fullmatch(value):
            raise ValidationError(f'应为两位小数的金额文字（如 "1000.00"），现为 {value!r}')
        amount = super()._deserialize(value, attr, data, **kwargs)
        if amount <= 0:
            raise ValidationError("金额应大于 0")
        return amount


def attempt(**kwargs: Any) -> fields.Integer:
    """A 1, 2, 3… counter (a payout's attempt)."""
    return fields.Integer(strict=True, validate=Range(min=1), **kwargs)


def load_payload(schema: Strict, payload: object, event_type: str) -> dict[str, Any]:
    """`payload` loaded by `schema`; `EventPayloadError` naming each bad field otherwise."""
    return load_or_raise(schema, payload, event_type, EventPayloadError)
