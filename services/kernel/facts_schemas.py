"""The claim facts, history and unit as marshmallow schemas: the full diagnosis.

``services/kernel/facts.py`` loads what is well formed without marshmallow (its records);
anything else is loaded here, and every message a clerk reads about facts is worded here or
in schemas.py. Imported by facts.py only when a record is not sure (issue 14: CLI start).
"""

from __future__ import annotations

from decimal import Decimal

from marshmallow import ValidationError, fields, post_load

from services.kernel.facts import CAUSES, LIABILITIES, PATIENTS, PLACES, grade_of, share_of
from services.kernel.policy import NATURES, ClaimFacts, HistoryEntry, Unit
from services.kernel.schemas import Amount, OneOf, Range, Strict, Text


class Money(Amount):
    """A decimal string (or int) of at most two places within money.MAX_AMOUNT; floats are
    refused because they lose fen, "1e400" because no form holds it (schemas.Amount)."""


class StrictBool(fields.Field):
    """true/false only: "no" or 0 for a yes/no fact is more likely a mistake than a value."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError(f"应为 true 或 false，填写的是 {value!r}")
        return value


class Grade(fields.Field):
    """Disability / injury grade: 1..10 (also I..X) or "death" (facts.grade_of)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return grade_of(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class Share(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return share_of(value, attr or "share")
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class ClaimFactsSchema(Strict):
    error_messages = {**Strict.error_messages, "unknown": "不认识的事实名称（拼写错误？）"}

    benefit = Text(required=True)
    total_cost = Money()
    self_borne = Money()
    settled_by_insurance = StrictBool()
    settled_amount = Money()
    cause = fields.String(validate=OneOf(CAUSES))
    liability = fields.String(validate=OneOf(LIABILITIES))
    liability_share = Share()
    grade = Grade()
    disease = Text()
    patient = fields.String(validate=OneOf(PATIENTS))
    patient_birth_date = fields.Date()
    admission_date = fields.Date()
    discharge_date = fields.Date()
    diagnosis_date = fields.Date()
    event_date = fields.Date()
    claim_date = fields.Date()
    place = fields.String(validate=OneOf(PLACES))
    loss_amount = Money()
    exclusion = fields.List(Text())

    @post_load
    def make(self, data, **kwargs) -> ClaimFacts:
        if "exclusion" in data:
            data["exclusion"] = tuple(data["exclusion"])
        return ClaimFacts(**data)


# One instance for every load: building a schema binds and deep-copies its 20 fields, three
# times the cost of loading a claim with it (what-if loads a year of claims, issue 13).
CLAIM_SCHEMA = ClaimFactsSchema()


class HistoryEntrySchema(Strict):
    benefit = Text(required=True)
    payable = Money(required=True)
    counted = Money(load_default=Decimal("0"))

    @post_load
    def make(self, data, **kwargs) -> HistoryEntry:
        return HistoryEntry(**data)


class UnitSchema(Strict):
    """A unit as a group application describes it (the quote's input)."""

    name = Text(required=True)
    code = Text(load_default=None)
    district = Text(load_default=None)
    nature = fields.String(load_default="public", validate=OneOf(NATURES))
    staff_total = fields.Integer(load_default=None, strict=True, validate=Range(min=0))
    staff_insured = fields.Integer(load_default=None, strict=True, validate=Range(min=0))
    participants = fields.Integer(required=True, strict=True, validate=Range(min=0))

    @post_load
    def make(self, data, **kwargs) -> Unit:
        return Unit(**data)
