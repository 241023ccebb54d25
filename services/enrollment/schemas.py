"""marshmallow at the service's edge: what RPC and HTTP callers may send.

Unknown keys are refused (a misspelt field is a mistake, not something to drop), and each
error becomes one line naming the field.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.enrollment.exceptions import EnrollmentError
from services.kernel.policy import NATURES


class InvalidRequest(EnrollmentError):
    pass


class _Strict(Schema):
    class Meta:
        unknown = RAISE


_count = {"strict": True, "validate": validate.Range(min=0)}


class UnitSchema(_Strict):
    unit_key = fields.String(required=True, validate=validate.Length(min=1, max=60))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    district = fields.String(load_default=None)
    nature = fields.String(load_default="public", validate=validate.OneOf(NATURES))
    address = fields.String(load_default=None)
    chair = fields.String(load_default=None)
    chair_phone = fields.String(load_default=None)
    contact = fields.String(load_default=None)
    contact_phone = fields.String(load_default=None)
    staff_total = fields.Integer(load_default=None, **_count)
    staff_insured = fields.Integer(load_default=None, **_count)


class OpenApplicationSchema(_Strict):
    unit_id = fields.String(required=True)
    year = fields.Integer(required=True, strict=True)
    participants = fields.Integer(required=True, **_count)
    staff_total = fields.Integer(load_default=None, **_count)
    staff_insured = fields.Integer(load_default=None, **_count)


class UpdateApplicationSchema(_Strict):
    participants = fields.Integer(**_count)
    staff_total = fields.Integer(**_count)
    staff_insured = fields.Integer(**_count)


def load(schema: Schema, data: object, what: str) -> dict:
    if not isinstance(data, dict):
        raise InvalidRequest(f"{what} 应为一个对象")
    try:
        return schema.load(data)
    except ValidationError as exc:
        parts = []
        for key, messages in sorted(exc.messages.items()):
            text = " ".join(messages) if isinstance(messages, list) else str(messages)
            parts.append(f"{key}: {'不认识的字段' if text == 'Unknown field.' else text}")
        raise InvalidRequest(f"{what} 有误: " + "; ".join(parts)) from None
