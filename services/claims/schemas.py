"""marshmallow at the claims service's edge: one schema per RPC method's arguments and per
HTTP body, so anything a caller can send is refused with one Chinese line naming the field
(InvalidRequest: 422 over HTTP) before it reaches the database.

The facts inside a claim are read by the kernel's own schema (services/kernel/facts.py),
which names a misspelt or malformed fact; here the envelope and every argument. Text lengths
are the columns' (services/claims/models.py), messages and the text and amount fields are
the kernel's (services/kernel/schemas.py).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields

from services.claims.exceptions import ClaimsError
from services.claims.models import (
    Attachment,
    AttachmentDocument,
    Claim,
    ClaimTransition,
    SettlementBatch,
)
from services.kernel.schemas import (
    Length,
    Range,
    Regexp,
    Strict,
    Text,
    length_of,
    load_or_raise,
    resident_id,
)


class InvalidRequest(ClaimsError):
    pass


# ---- the fields every method shares ----------------------------------------------------------

REASON_LENGTH = 2000  # a reason is a Text column: long enough for a paragraph, not a file


def claim_id(**kwargs: Any) -> Text:
    return Text(length_of(Claim.id), required=True, **kwargs)


def actor() -> Text:
    return Text(length_of(ClaimTransition.actor), required=True)


def city() -> Text:
    return Text(length_of(Claim.city), required=True)


def year(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=Range(min=2000, max=2100), **kwargs)


def reason(**kwargs: Any) -> Text:
    return Text(REASON_LENGTH, multiline=True, **kwargs)


class _Facts(fields.Dict):
    """The facts as sent (the kernel's schema reads them); the two stored in their own columns
    are checked against those columns here."""

    def _deserialize(self, value, attr, data, **kwargs):
        facts = super()._deserialize(value, attr, data, **kwargs)
        for name, column in (("benefit", Claim.benefit), ("disease", Claim.disease)):
            text = facts.get(name)
            if isinstance(text, str) and len(text) > length_of(column):
                raise ValidationError(f"{name} 最多 {length_of(column)} 个字符")
        return facts


def _name(**kwargs: Any) -> Text:
    return Text(length_of(Claim.name), **kwargs)


def _payee_card(**kwargs: Any) -> Text:
    return Text(validate=Regexp(r"^\d{12,20}$", error="卡号应为12到20位数字"), **kwargs)


# ---- intake ----------------------------------------------------------------------------------


class NewClaimSchema(Strict):
    """The body of POST /claims and the arguments of create_claim."""

    city = city()
    year = year(required=True)
    id_number = resident_id(required=True)
    name = _name(load_default=None)
    facts = _Facts(required=True)
    payee_card = _payee_card(load_default=None)


class CreateClaimArgs(NewClaimSchema):
    actor = actor()


class ClaimChangesSchema(Strict):
    """The body of PATCH /claims/<id>: what a clerk corrects on a draft or returned claim."""

    facts = _Facts()
    name = _name()
    payee_card = _payee_card()
    reason = reason()


class UpdateClaimArgs(Strict):
    claim_id = claim_id()
    changes = fields.Dict(required=True)  # read by ClaimChangesSchema, errors named "changes.…"
    actor = actor()


class AddAttachmentArgs(Strict):
    """One file as one or more documents (the bytes arrive apart: base64 over RPC, the raw
    body over HTTP)."""

    claim_id = claim_id()
    documents = fields.List(
        Text(length_of(AttachmentDocument.document)), required=True, validate=Length(min=1)
    )
    filename = Text(length_of(Attachment.filename), required=True)
    actor = actor()


class RemoveAttachmentArgs(Strict):
    claim_id = claim_id()
    attachment_id = Text(length_of(Attachment.id), required=True)
    actor = actor()


class AttachmentArgs(Strict):
    """attachment: one file of a claim."""

    claim_id = claim_id()
    attachment_id = Text(length_of(Attachment.id), required=True)


class SubmitBody(Strict):
    """The body of POST /claims/<id>/submit."""

    not_applicable = fields.Dict(
        keys=Text(length_of(AttachmentDocument.document)), values=reason(), load_default=None
    )


class SubmitArgs(SubmitBody):
    claim_id = claim_id()
    actor = actor()


# ---- review and money ------------------------------------------------------------------------


class ApproveArgs(Strict):
    claim_id = claim_id()
    actor = actor()
    reason = reason(load_default=None)


class DecisionArgs(Strict):
    """return_claim and reject: the reason is what the clerk or member is told."""

    claim_id = claim_id()
    actor = actor()
    reason = reason(required=True)


class ApproveBody(Strict):
    """The body of POST /claims/<id>/approve: an optional note."""

    reason = reason(load_default=None)


class DecisionBody(Strict):
    """The body of POST /claims/<id>/return and /reject: what the clerk or member is told."""

    reason = reason(required=True)


class ClaimArgs(Strict):
    """claim and payout_details: one claim named by its id."""

    claim_id = claim_id()


class ReviewQueueArgs(Strict):
    city = city()
    year = year(load_default=None)
    within_days = fields.Integer(strict=True, validate=Range(min=0, max=366))
    # a page is what a screen shows; 1000 bounds what one call may make the database load
    limit = fields.Integer(strict=True, validate=Range(min=1, max=1000))
    offset = fields.Integer(strict=True, validate=Range(min=0))


class ListClaimsArgs(Strict):
    city = city()
    year = year(required=True)
    status = Text(length_of(Claim.status), load_default=None)


class UnitClaimsArgs(Strict):
    city = city()
    year = year(required=True)
    unit_id = Text(length_of(Claim.unit_id), required=True)
    district = Text(length_of(Claim.district), load_default=None)
    limit = fields.Integer(strict=True, validate=Range(min=1, max=1000))
    offset = fields.Integer(strict=True, validate=Range(min=0))


MEMBERS_AT_ONCE = 50  # the members one phone reaches, with room to spare; not a whole roster


class MemberClaimsArgs(Strict):
    """member_claims: the claims of the members enrollment found (the help desk's look-up)."""

    city = city()
    member_ids = fields.List(
        Text(length_of(Claim.member_id)),
        required=True,
        validate=Length(min=1, max=MEMBERS_AT_ONCE),
    )


class RetryPayoutArgs(ApproveArgs):
    pass


class ClawbackArgs(Strict):
    claim_id = claim_id()
    exclusion = Text(length_of(Claim.benefit), required=True)
    actor = actor()
    reason = reason(required=True)


class ImportSettlementsArgs(Strict):
    city = city()
    year = year(required=True)
    actor = actor()
    filename = Text(length_of(SettlementBatch.filename), load_default=None)
    content_base64 = fields.String(load_default=None)
    records = fields.List(fields.Dict(), load_default=None)  # rows: settlement_rows.py


class StatisticsArgs(Strict):
    city = city()
    year = year(required=True)


def load(schema: type[Schema] | Schema, data: object, what: str = "申请") -> dict:
    """``data`` through ``schema``; InvalidRequest naming each wrong field otherwise."""
    return load_or_raise(
        schema() if isinstance(schema, type) else schema, data, what, InvalidRequest
    )


def load_new_claim(data: object) -> dict:
    return load(NewClaimSchema, data)


def check(schema: type[Schema], what: str, /, **arguments: Any) -> dict:
    """An RPC method's arguments through its schema (``what`` names the action in the message)."""
    return load(schema, arguments, what)
