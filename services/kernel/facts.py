"""Reading claim facts and history from plain data (JSON, RPC payloads) into value types.

marshmallow at the boundary: an unknown fact name (a misspelling) or a malformed value is
an error naming the fact, never silently dropped (STYLE.md, on OpenFisca).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from marshmallow import ValidationError, fields, post_load

from services.kernel.errors import FactError
from services.kernel.money import MoneyError, parse_amount
from services.kernel.policy import NATURES, ClaimFacts, HistoryEntry, Unit
from services.kernel.schemas import Amount, OneOf, Range, Strict, Text, one_line

CAUSES = (
    "illness",
    "accident",
    "traffic",
    "work_injury",
    "occupational_disease",
    "maternity",
    "fire",
)
LIABILITIES = ("none", "secondary", "equal", "main", "full")
PLACES = ("mainland", "abroad", "hong_kong", "macao", "taiwan")
PATIENTS = ("member", "child")
_ROMAN = {
    "I": 1,
    "II": 2,
    "III": 3,
    "IV": 4,
    "V": 5,
    "VI": 6,
    "VII": 7,
    "VIII": 8,
    "IX": 9,
    "X": 10,
}


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
    """Disability / injury grade: 1..10 (also I..X) or "death"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("grade 应为 1-10、I-X 或 death")
        if isinstance(value, int):
            grade = value
        elif isinstance(value, str):
            text = value.strip()
            if text.lower() == "death":
                return "death"
            if text.isdigit():
                grade = int(text)
            elif text.upper() in _ROMAN:
                grade = _ROMAN[text.upper()]
            else:
                raise ValidationError(f"grade 应为 1-10、I-X 或 death，填写的是 {value!r}")
        else:
            raise ValidationError(f"grade 应为 1-10、I-X 或 death，填写的是 {value!r}")
        if not 1 <= grade <= 10:
            raise ValidationError(f"grade 应在 1 到 10 之间，填写的是 {value!r}")
        return grade


class Share(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        try:
            share = parse_amount(value, name=attr or "share", places=6, maximum=Decimal(1))
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None
        if not Decimal(0) <= share <= Decimal(1):
            raise ValidationError("liability_share 应为 0 到 1 之间的小数")
        return share


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
_CLAIM_SCHEMA = ClaimFactsSchema()


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


def load_claim(data: object) -> ClaimFacts:
    """Claim facts from a mapping; FactError with every problem on one line."""
    if not isinstance(data, Mapping):
        raise FactError("claim 应为一个对象（事实名: 值）")
    try:
        return _CLAIM_SCHEMA.load(data)
    except ValidationError as exc:
        raise FactError(one_line("claim 事实有误: ", exc.messages)) from None


def load_unit(data: object) -> Unit:
    if not isinstance(data, Mapping):
        raise FactError("unit 应为一个对象")
    try:
        return UnitSchema().load(data)
    except ValidationError as exc:
        raise FactError(one_line("unit 有误: ", exc.messages)) from None


def load_history(data: object) -> tuple[HistoryEntry, ...]:
    if data is None:
        return ()
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise FactError("history 应为列表，每项 {benefit, payable, counted}")
    try:
        return tuple(HistoryEntrySchema(many=True).load(list(data)))
    except ValidationError as exc:
        raise FactError(one_line("history 有误: ", {"history": exc.messages})) from None


FACT_NAMES = tuple(ClaimFactsSchema().fields)
