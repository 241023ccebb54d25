"""The payloads notify consumes (one schema per event) and its RPC arguments.

Events carry ids only (DESIGN.md, "Messaging"); details are asked of their owner by RPC.
Unknown keys are ignored (services/messaging/payloads.py): a producer may add one.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

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
    attempt = fields.Integer(strict=True, load_default=1)  # claim_approved: 2, 3… on a retry


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


class ReceiptSchema(Schema):
    """One delivery report as Aliyun posts them in a batch (SmsReport); keys a gateway adds
    later are dropped, the ones we read are checked."""

    class Meta:
        unknown = EXCLUDE

    out_id = fields.String(load_default=None)  # our message id (OutId)
    biz_id = fields.String(load_default=None)
    phone_number = fields.String(load_default=None)
    success = fields.Boolean(required=True)
    err_code = fields.String(load_default=None)
    err_msg = fields.String(load_default=None)
    send_time = fields.String(load_default=None)
    report_time = fields.String(load_default=None)
    sms_size = fields.String(load_default=None)


def load_receipts(batch: object) -> list[dict[str, Any]]:
    """A receipt batch: a JSON array of reports; ValueError naming the first wrong one."""
    if not isinstance(batch, list):
        raise ValueError("回执应为 JSON 数组，每项一个对象")
    try:
        return ReceiptSchema(many=True).load(batch)
    except ValidationError as exc:
        first = sorted(exc.messages.items())[0] if isinstance(exc.messages, dict) else None
        where = f"第 {int(first[0]) + 1} 项: {first[1]}" if first else str(exc.messages)
        raise ValueError(f"回执有误，{where}") from None
