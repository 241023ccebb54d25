"""The payloads of consumed events, checked with marshmallow before a handler changes anything.

Each consumer declares one schema per event it handles (claims: services/claims/handled_events.py),
built on `EventSchema` (the version and the event id every payload carries) and, for money,
`Amount`. `load_payload` answers the loaded dict or raises `EventPayloadError` naming every bad
field in one line; `services.messaging.handlers.event_handler` parks such an event at once with
that line as its reason, since retrying cannot mend it.

Keys a schema does not know are ignored, not refused: a producer may add a key to a version
without breaking its consumers (a new meaning is a new version, which is refused by number).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from services.messaging.errors import EventPayloadError

AMOUNT = re.compile(r"\d{1,10}\.\d{2}")
MAX_AMOUNT = Decimal("9999999.99")  # no single payment of the platform reaches ten million yuan

# marshmallow's own messages, as an operator reading the dead-letter list wants them
_MESSAGES = {
    "Missing data for required field.": "缺少此项",
    "Field may not be null.": "不能为空",
    "Not a valid string.": "应为文字",
    "Not a valid integer.": "应为整数",
    "Not a valid date.": "应为日期（YYYY-MM-DD）",
    "Invalid input type.": "应为一个对象",
}
_LENGTH = re.compile(r"Length must be between (\d+) and (\d+)\.")


class EventSchema(Schema):
    """What every payload carries: `v` (the version this consumer reads) and `event_id`."""

    class Meta:
        unknown = EXCLUDE

    VERSION = 1

    v = fields.Integer(required=True, strict=True)
    event_id = fields.String(required=True, validate=validate.Length(min=1, max=36))

    @validates("v")
    def _known_version(self, value: int, **_: Any) -> None:
        if value != self.VERSION:
            raise ValidationError(f"版本 {value} 不认识（只认识 {self.VERSION}）")


class Amount(fields.Field):
    """Yuan as a plain decimal string with two places ("1000.00"), positive, below ten million:
    loaded as a Decimal. A float or an exponent ("1e3") is refused, never guessed."""

    def __init__(self, *, maximum: Decimal = MAX_AMOUNT, **kwargs: Any):
        super().__init__(**kwargs)
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or not AMOUNT.fullmatch(value):
            raise ValidationError(f'应为两位小数的金额文字（如 "1000.00"），现为 {value!r}')
        try:
            amount = Decimal(value)
        except InvalidOperation:  # the pattern admits only digits; kept for safety
            raise ValidationError(f"不是金额: {value!r}") from None
        if amount <= 0:
            raise ValidationError("金额应大于 0")
        if amount > self.maximum:
            raise ValidationError(f"金额超过上限 {self.maximum}")
        return amount

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{value:.2f}"


def load_payload(schema: Schema, payload: object, event_type: str) -> dict[str, Any]:
    """`payload` loaded by `schema`; `EventPayloadError` naming each bad field otherwise."""
    if not isinstance(payload, dict):
        raise EventPayloadError(
            f"{event_type} 的内容有误: 应为一个对象，现为 {type(payload).__name__}"
        )
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise EventPayloadError(f"{event_type} 的内容有误: {describe(exc.messages)}") from None


def describe(messages: Any) -> str:
    """marshmallow's error dict as one line: `amount: …; claim_id: 缺少此项`."""
    if not isinstance(messages, dict):
        return _text(messages)
    return "; ".join(f"{key}: {_text(value)}" for key, value in sorted(messages.items(), key=str))


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + describe(value) + "}"
    if isinstance(value, list):
        return " ".join(_text(item) for item in value)
    text = str(value)
    length = _LENGTH.fullmatch(text)
    if length:
        return f"长度应在 {length.group(1)} 到 {length.group(2)} 之间"
    return _MESSAGES.get(text, text)
