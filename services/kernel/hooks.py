"""The optional part of the city policy API: hooks a service may ask of a city, with defaults.

pluggy's way, not openIMIS's: a platform module never imports a city's package to reach a
type or a function of it (a test greps for that). What a service needs from a city beyond
``CityPolicy`` — the units that qualify for a preferential price, a KPI report, advice on a
failed payout — is a method declared here with kernel value types and a default, so a city
without it still loads and answers "nothing". ``DataPolicy`` inherits the defaults; a city
written from scratch may or may not, so services call a hook through ``hook(policy, name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from services.kernel.errors import FactError
from services.kernel.money import format_money
from services.kernel.policy import SmsTemplates


@dataclass(frozen=True)
class UnitYearStats:
    """What the records say about one unit in one scheme year (a look-back year)."""

    year: int  # the scheme year these figures are for
    unit: str  # the unit (union) name as enrolled
    district: str  # its block: code, name or alias
    members: int  # members enrolled that year
    premiums: Decimal  # premiums (互助金) paid that year
    claims: Decimal  # benefits paid out that year
    code: str | None = None  # 医保编码 / 社保编码: a rule may count one code as one unit

    def __post_init__(self) -> None:
        if isinstance(self.members, bool) or not isinstance(self.members, int) or self.members < 0:
            raise FactError(f"{self.unit}: 参保人数应为非负整数，填写的是 {self.members!r}")
        for name, label in (("premiums", "已缴互助金"), ("claims", "已付互助金")):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or value < 0:
                raise FactError(f"{self.unit}: {label}应为非负的 Decimal 金额，填写的是 {value!r}")


def percent(ratio: Decimal) -> str:
    """Two decimals, cut not rounded: 68/3420 shows 1.98%, never a 2.00% it did not reach."""
    return f"{(ratio * 100).quantize(Decimal('0.01'), rounding=ROUND_DOWN)}%"


@dataclass(frozen=True)
class KpiRow:
    """One sub-union's year: enrolment, claim KPI, and the points it loses (if any)."""

    organisation: str
    group: str | None
    enrolment_target: int
    enrolled: int
    enrolment_met: bool
    base_headcount: int  # 去年参保基数 / 任务基数, as given
    base_amount: Decimal  # its premium in yuan, as given
    headcount_target: int
    amount_target: Decimal
    paid_headcount: int
    paid_amount: Decimal
    headcount_ratio: Decimal  # paid headcount / base headcount, unrounded
    amount_ratio: Decimal  # paid amount / base premium, unrounded
    headcount_met: bool
    amount_met: bool
    claim_met: bool
    points_lost: Decimal | None  # None where the notice sets no deduction
    explain: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "organisation": self.organisation,
            "group": self.group,
            "enrolment": {
                "target": self.enrolment_target,
                "actual": self.enrolled,
                "met": self.enrolment_met,
            },
            "claim_headcount": {
                "target": self.headcount_target,
                "actual": self.paid_headcount,
                "base": self.base_headcount,
                "ratio": percent(self.headcount_ratio),
                "met": self.headcount_met,
            },
            "claim_amount": {
                "target": format_money(self.amount_target),
                "actual": format_money(self.paid_amount),
                "base": format_money(self.base_amount),
                "ratio": percent(self.amount_ratio),
                "met": self.amount_met,
            },
            "claim_met": self.claim_met,
            "points_lost": None if self.points_lost is None else str(self.points_lost),
            "explain": list(self.explain),
        }


@dataclass(frozen=True)
class PayoutAdvice:
    """What a city's notice tells members and clerks to do when a payout fails for a reason
    (Zhangjiakou 2024 六: 久悬、未激活 → the nearest 张家口银行 branch)."""

    reason: str  # a payout failure reason code (payments' FAILURE_REASONS)
    advice: str
    source: str = ""

    def to_dict(self) -> dict:
        return {"reason": self.reason, "advice": self.advice, "source": self.source}


class CityHooks:
    """The optional methods of a city policy and their defaults (a city without one loads)."""

    def preferential_basis_year(self, year: int) -> int | None:
        """The year whose records decide ``year``'s preferential list; None: the city has none."""
        return None

    def preferential_candidates(
        self, year: int, stats: Iterable[UnitYearStats]
    ) -> list[UnitYearStats]:
        """The units that qualify for ``year``'s discounted price; none by default."""
        return []

    def kpi_report(self, year: int, actuals: Mapping[tuple[str, str], object]) -> list[KpiRow]:
        """Each sub-union's KPI against its targets; a city without KPIs reports none."""
        return []

    def payout_failure_advice(self, year: int, reason: str) -> PayoutAdvice | None:
        """The city's own advice for a failed payout's reason; None: the platform's applies."""
        return None

    def sms_templates(self, year: int) -> SmsTemplates | None:
        """The city's SMS texts (DataPolicy: data/sms.yaml, checked by services/notify);
        None: the platform's texts (services/notify/templates.py)."""
        return None


HOOKS = tuple(name for name in vars(CityHooks) if not name.startswith("_"))


def hook(policy: Any, name: str) -> Callable:
    """The city's method ``name``, or the default when the city does not define it."""
    if name not in HOOKS:
        raise AttributeError(f"{name!r} is not a city hook; hooks: {', '.join(HOOKS)}")
    method = getattr(policy, name, None)
    if method is None:
        return getattr(CityHooks, name).__get__(policy)
    return method
