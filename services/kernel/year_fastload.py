"""A year file's layout as fastload records: the common case without marshmallow (issue 14).

Mirrors year_schemas.py field for field (tests/kernel/test_fastload.py checks that each
record has its schema's fields, required flags and defaults, and that both load every seed
file alike): a well-formed year file is loaded here; anything a record is not sure of goes
to the marshmallow schemas, which word every error, so a bad file is refused as before.
"""

from __future__ import annotations

from decimal import Decimal

from services.kernel import fastload as fl
from services.kernel.fastload import OPTIONAL, REQUIRED, Record
from services.kernel.hooks import PayoutAdvice
from services.kernel.policy import Account

# the choices and pattern of year_schemas' validators: defined here, imported there (this
# module imports no marshmallow)
REVIEW_CADENCES = ("on_receipt", "monthly", "quarterly")
PARTICIPATION_BASES = ("staff_total", "staff_insured")
PAY_DAYS_KINDS = ("calendar", "working")
TARGET_KINDS = ("enrolment", "claim_headcount", "claim_amount", "growth")
ACCOUNT_NUMBER = r"^\d+$"

_STR = (fl.string, REQUIRED)
_TEXT = (fl.string, OPTIONAL)
_STRINGS = (fl.list_of(fl.string), list)


def _account(data: dict) -> Account:
    data.pop("source", None)
    return Account(**data)


ACCOUNT = Record(
    {
        "payee": _STR,
        "bank": _STR,
        "number": (fl.matching(ACCOUNT_NUMBER), REQUIRED),
        "remark": _TEXT,
        "source": _TEXT,
    },
    _account,
)
BAND = Record(
    {
        "min": (fl.integer, REQUIRED),
        "max": (fl.integer, None),
        "per_person": (fl.decimal_text, REQUIRED),
    }
)
DISTRICT = Record(
    {
        "code": _STR,
        "name": _STR,
        "aliases": _STRINGS,
        "account": (ACCOUNT, OPTIONAL),
        "preferential_units": _STRINGS,
        "non_public_subsidy": (fl.list_of(BAND), list),
    }
)
PERIOD = Record(
    {
        "number": (fl.integer, None),
        "cover": (fl.list_of(fl.day, length=2), REQUIRED),
        "window": (fl.list_of(fl.or_none(fl.day), length=2), REQUIRED),
        "source": _TEXT,
    }
)
FEE = Record(
    {
        "price": (fl.decimal_text, REQUIRED),
        "preferential_price": (fl.decimal_text, OPTIONAL),
        "preferential_rule": (fl.plain_dict, OPTIONAL),
        "union_subsidy_per_person": (fl.decimal_text, Decimal("0")),
        "source": _TEXT,
    }
)
PARTICIPATION = Record(
    {
        "min_share": (fl.decimal_text, REQUIRED),
        "base": (fl.one_of(PARTICIPATION_BASES), REQUIRED),
        "all_required_up_to": (fl.integer, REQUIRED),
        "source": _TEXT,
    }
)
ROSTER_COLUMN = Record(
    {
        "field": _STR,
        "titles": (fl.list_of(fl.string, at_least=1), REQUIRED),
        "required": (fl.boolean, False),
    }
)
ROSTER = Record(
    {
        "sheet": _STR,
        "title": _STR,
        "application_sheet": (fl.string, None),
        "unit_key": (fl.string, "单位编码"),
        "columns": (fl.list_of(ROSTER_COLUMN), REQUIRED),
        "source": _TEXT,
    }
)
DEADLINE = Record(
    {
        "years_after": (fl.integer, REQUIRED),
        "month": (fl.between(1, 12), REQUIRED),
        "day": (fl.between(1, 31), REQUIRED),
    }
)
CLAIMS = Record({"deadline": (DEADLINE, None), "source": _TEXT})
BENEFIT = Record(
    {
        "code": _STR,
        "name": _STR,
        "kind": _STR,
        "needs": _STRINGS,
        "counts_by": (fl.string, None),
        "attachments": _STRINGS,
        "review": (fl.one_of(REVIEW_CADENCES), "on_receipt"),
        "pay_within_days": (fl.integer, None),
        "pay_within_days_max": (fl.integer, None),
        "pay_days_kind": (fl.one_of(PAY_DAYS_KINDS), "calendar"),
        "excluded_causes": _STRINGS,
        "excluded_places": _STRINGS,
        "params": (fl.plain_dict, dict),
        "summary": (fl.string, ""),
        "source": (fl.string, ""),
    }
)
EXCLUSION = Record(
    {
        "code": _STR,
        "label": _STR,
        "benefits": _STRINGS,
        "recover": (fl.boolean, False),
        "unless_causes": _STRINGS,
        "source": (fl.string, ""),
    }
)
TARGET = Record(
    {
        "organisation": _STR,
        "kind": (fl.one_of(TARGET_KINDS), REQUIRED),
        "figure": (fl.decimal_text, REQUIRED),
        "base": (fl.decimal_text, None),
        "group": (fl.string, None),
    }
)
PAYOUT_ADVICE = Record(
    {"reason": _STR, "advice": _STR, "source": (fl.string, "")},
    lambda data: PayoutAdvice(**data),
)
YEAR = Record(
    {
        "year": (fl.integer, REQUIRED),
        "source": _STR,
        "period": (PERIOD, REQUIRED),
        "districts": (fl.list_of(DISTRICT), list),
        "account": (ACCOUNT, None),
        "fee": (FEE, REQUIRED),
        "participation": (PARTICIPATION, None),
        "roster": (ROSTER, REQUIRED),
        "claims": (CLAIMS, None),
        "benefits": (fl.list_of(BENEFIT), list),
        "benefit_schedule": (fl.string, None),
        "exclusions": (fl.list_of(EXCLUSION), list),
        "targets": (fl.list_of(TARGET), list),
        "targets_source": _TEXT,
        "payout_advice": (fl.list_of(PAYOUT_ADVICE), list),
        "extra": (fl.plain_dict, dict),
    }
)
SCHEDULE = Record(
    {
        "source": _STR,
        "benefits": (fl.list_of(BENEFIT), REQUIRED),
        "exclusions": (fl.list_of(EXCLUSION), list),
    }
)
