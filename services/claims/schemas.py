"""marshmallow at the claims service's edge: the envelope of a new claim (who, where, when).

The facts inside are read by the kernel's own schema (services/kernel/facts.py), which names
a misspelt or malformed fact; here an unknown key or a wrong type in the envelope is refused
the same way, one line naming the field.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.claims.exceptions import ClaimsError


class InvalidRequest(ClaimsError):
    pass


class NewClaimSchema(Schema):
    class Meta:
        unknown = RAISE

    city = fields.String(required=True, validate=validate.Length(min=1))
    year = fields.Integer(required=True, strict=True)
    id_number = fields.String(required=True, validate=validate.Length(min=15, max=20))
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=60))
    facts = fields.Dict(required=True)
    payee_card = fields.String(
        load_default=None, validate=validate.Regexp(r"^\d{12,20}$", error="卡号应为12到20位数字")
    )


def load_new_claim(data: object) -> dict:
    if not isinstance(data, dict):
        raise InvalidRequest("申请应为一个对象")
    try:
        return NewClaimSchema().load(data)
    except ValidationError as exc:
        parts = []
        for key, messages in sorted(exc.messages.items()):
            text = " ".join(messages) if isinstance(messages, list) else str(messages)
            parts.append(f"{key}: {'不认识的字段' if text == 'Unknown field.' else text}")
        raise InvalidRequest("申请有误: " + "; ".join(parts)) from None
