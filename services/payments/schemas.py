"""marshmallow at the payments service's edge: the JSON body of a bank callback.

The fields are the contract's (README.md, "Payments"); unknown keys are ignored (a bank may
send more), a missing or malformed field is named in one line. Amounts are decimal strings
with at most two places, within a sane bound; never JSON numbers (a float has already lost
the fen).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from services.kernel.schemas import Strict, Text, length_of
from services.payments.exceptions import CallbackRefused
from services.payments.models import Invoice

TYPES = ("premium.received", "payout.succeeded", "payout.failed", "payout.returned")
_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,2})?")


class AmountString(fields.Field):
    """A positive decimal string with at most two places ("1000.00")."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        if not isinstance(value, str) or not _AMOUNT.fullmatch(value.strip()):
            raise ValidationError('应为两位小数以内的金额字符串，如 "1000.00"')
        amount = Decimal(value.strip())
        if amount <= 0:
            raise ValidationError("金额应大于 0")
        return f"{amount:.2f}"


class BankEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    type = fields.String(required=True, validate=validate.OneOf(TYPES))
    occurred_at = fields.AwareDateTime(required=True)
    account = fields.String(load_default=None, validate=validate.Length(max=40))
    amount = AmountString(load_default=None)
    currency = fields.String(load_default="CNY", validate=validate.Length(equal=3))
    reference = fields.String(load_default=None, validate=validate.Length(max=300))
    payout_id = fields.String(load_default=None, validate=validate.Length(max=60))
    payer_name = fields.String(load_default=None, validate=validate.Length(max=200))
    failure_code = fields.String(load_default=None, validate=validate.Length(max=60))
    failure_message = fields.String(load_default=None, validate=validate.Length(max=500))
    serial = fields.String(load_default=None, validate=validate.Length(max=100))

    @validates_schema
    def _by_type(self, data: dict, **kwargs) -> None:
        if data["type"] == "premium.received":
            for name in ("account", "amount"):
                if not data.get(name):
                    raise ValidationError("收款通知必须有此字段", name)
        elif not data.get("payout_id"):
            raise ValidationError("支付结果通知必须有此字段", "payout_id")


_BANK_EVENT = BankEventSchema()  # one instance: building a schema costs 3x a load (issue 10)


def load_bank_event(raw: Any) -> dict[str, Any]:
    """The bank's event as a plain dict (occurred_at as ISO text, amount as a string);
    CallbackRefused("malformed", one line naming the field) otherwise."""
    if not isinstance(raw, dict):
        raise CallbackRefused("malformed", "回调正文应为 JSON 对象")
    try:
        event = _BANK_EVENT.load(raw)
    except ValidationError as exc:
        key, messages = sorted(exc.messages.items())[0]
        text = messages[0] if isinstance(messages, list) else str(messages)
        raise CallbackRefused("malformed", f"回调字段 {key}：{text}") from None
    event["occurred_at"] = event["occurred_at"].isoformat()
    return event


class InvoiceArgs(Strict):
    """The `invoice` RPC's argument: one invoice by its id."""

    invoice_id = Text(length_of(Invoice.id), required=True)


class InvoiceAnswer(Schema):
    """The `invoice` RPC's answer: whom the invoice bills (a unit, or a member in Wujin) and
    for which city-year; the payer's name, account and remark stay in payments."""

    invoice_id = fields.String(attribute="id")
    kind = fields.String()
    status = fields.String()
    city = fields.String()
    year = fields.Integer()
    unit_id = fields.String(allow_none=True)
    member_id = fields.String(allow_none=True)
    application_id = fields.String(allow_none=True)
