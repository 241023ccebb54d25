"""Reading claim facts and history from plain data (JSON, RPC payloads) into value types.

An unknown fact name (a misspelling) or a malformed value is an error naming the fact, never
silently dropped (STYLE.md, on OpenFisca). Well-formed facts are loaded by the records below
(fastload.py: the common case, no marshmallow); anything a record is not sure of is loaded by
the marshmallow schemas in facts_schemas.py, which word every error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields as dataclass_fields
from decimal import Decimal

from services.kernel import fastload as fl
from services.kernel.errors import FactError
from services.kernel.money import MAX_AMOUNT, MoneyError, parse_amount
from services.kernel.policy import NATURES, ClaimFacts, HistoryEntry, Unit

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

FACT_NAMES = tuple(f.name for f in dataclass_fields(ClaimFacts))


def grade_of(value: object) -> int | str:
    """Disability / injury grade: 1..10 (also I..X) or "death"; ValueError saying why not."""
    if isinstance(value, bool):
        raise ValueError("grade 应为 1-10、I-X 或 death")
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
            raise ValueError(f"grade 应为 1-10、I-X 或 death，填写的是 {value!r}")
    else:
        raise ValueError(f"grade 应为 1-10、I-X 或 death，填写的是 {value!r}")
    if not 1 <= grade <= 10:
        raise ValueError(f"grade 应在 1 到 10 之间，填写的是 {value!r}")
    return grade


def share_of(value: object, name: str = "share") -> Decimal:
    """A liability share, 0 to 1 with up to six places; ValueError (MoneyError) saying why not."""
    share = parse_amount(value, name=name, places=6, maximum=Decimal(1))
    if not Decimal(0) <= share <= Decimal(1):
        raise ValueError("liability_share 应为 0 到 1 之间的小数")
    return share


# ---- the records: well-formed facts without marshmallow (fastload.py) ----------------------


def _money(value: object) -> Decimal:
    """facts_schemas.Money (schemas.Amount) when it would accept the value."""
    try:
        amount = parse_amount(value, name="amount", maximum=MAX_AMOUNT)
    except MoneyError:
        raise fl.Slow from None
    if amount < 0:
        raise fl.Slow
    return amount


def _strictly(check):
    def convert(value: object):
        try:
            return check(value)
        except ValueError:
            raise fl.Slow from None

    return convert


def _claim(data: dict) -> ClaimFacts:
    if "exclusion" in data:
        data["exclusion"] = tuple(data["exclusion"])
    return ClaimFacts(**data)


_CLAIM = fl.Record(
    {
        "benefit": (fl.checked_text, fl.REQUIRED),
        "total_cost": (_money, fl.OPTIONAL),
        "self_borne": (_money, fl.OPTIONAL),
        "settled_by_insurance": (fl.boolean, fl.OPTIONAL),
        "settled_amount": (_money, fl.OPTIONAL),
        "cause": (fl.one_of(CAUSES), fl.OPTIONAL),
        "liability": (fl.one_of(LIABILITIES), fl.OPTIONAL),
        "liability_share": (_strictly(share_of), fl.OPTIONAL),
        "grade": (_strictly(grade_of), fl.OPTIONAL),
        "disease": (fl.checked_text, fl.OPTIONAL),
        "patient": (fl.one_of(PATIENTS), fl.OPTIONAL),
        "patient_birth_date": (fl.day, fl.OPTIONAL),
        "admission_date": (fl.day, fl.OPTIONAL),
        "discharge_date": (fl.day, fl.OPTIONAL),
        "diagnosis_date": (fl.day, fl.OPTIONAL),
        "event_date": (fl.day, fl.OPTIONAL),
        "claim_date": (fl.day, fl.OPTIONAL),
        "place": (fl.one_of(PLACES), fl.OPTIONAL),
        "loss_amount": (_money, fl.OPTIONAL),
        "exclusion": (fl.list_of(fl.checked_text), fl.OPTIONAL),
    },
    _claim,
)
_HISTORY_ENTRY = fl.Record(
    {
        "benefit": (fl.checked_text, fl.REQUIRED),
        "payable": (_money, fl.REQUIRED),
        "counted": (_money, Decimal("0")),
    },
    lambda data: HistoryEntry(**data),
)
_COUNT = fl.between(0, None)
_UNIT = fl.Record(
    {
        "name": (fl.checked_text, fl.REQUIRED),
        "code": (fl.checked_text, None),
        "district": (fl.checked_text, None),
        "nature": (fl.one_of(NATURES), "public"),
        "staff_total": (_COUNT, None),
        "staff_insured": (_COUNT, None),
        "participants": (_COUNT, fl.REQUIRED),
    },
    lambda data: Unit(**data),
)


# ---- loading: the record, else the schema -------------------------------------------------


def load_claim(data: object) -> ClaimFacts:
    """Claim facts from a mapping; FactError with every problem on one line."""
    if not isinstance(data, Mapping):
        raise FactError("claim 应为一个对象（事实名: 值）")
    try:
        return _CLAIM(data)
    except fl.Slow:
        pass
    from marshmallow import ValidationError

    from services.kernel.facts_schemas import CLAIM_SCHEMA
    from services.kernel.schemas import one_line

    try:
        return CLAIM_SCHEMA.load(data)
    except ValidationError as exc:
        raise FactError(one_line("claim 事实有误: ", exc.messages)) from None


def load_unit(data: object) -> Unit:
    if not isinstance(data, Mapping):
        raise FactError("unit 应为一个对象")
    try:
        return _UNIT(data)
    except fl.Slow:
        pass
    from marshmallow import ValidationError

    from services.kernel.facts_schemas import UnitSchema
    from services.kernel.schemas import one_line

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
        return tuple(_HISTORY_ENTRY(entry) for entry in data)
    except fl.Slow:
        pass
    from marshmallow import ValidationError

    from services.kernel.facts_schemas import HistoryEntrySchema
    from services.kernel.schemas import one_line

    try:
        return tuple(HistoryEntrySchema(many=True).load(list(data)))
    except ValidationError as exc:
        raise FactError(one_line("history 有误: ", {"history": exc.messages})) from None


def __getattr__(name: str):
    # the schemas' old home: `facts.ClaimFactsSchema` and the fields still answer, importing
    # marshmallow only when asked (facts_schemas.py)
    if name in ("ClaimFactsSchema", "HistoryEntrySchema", "UnitSchema", "Money", "StrictBool"):
        from services.kernel import facts_schemas

        return getattr(facts_schemas, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
