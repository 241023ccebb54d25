"""The city policy API: the Protocol every city plugin implements, and its value types.

Services ask a plugin, never a table of their own, for fees, accounts, benefits and rules.
Values are frozen dataclasses; money is Decimal; ``to_dict`` gives the JSON shape the CLI
and the services' schemas use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

from services.kernel.money import capitals, format_money
from services.kernel.periods import SchemePeriod

NATURES = ("public", "non_public")


@dataclass(frozen=True)
class District:
    """A district block / county union / town union: where units belong and pay."""

    code: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Account:
    payee: str
    bank: str
    number: str  # digits only, no spaces
    remark: str | None = None  # what the transfer's remark must carry, if the notice says

    def to_dict(self) -> dict:
        data = {"payee": self.payee, "bank": self.bank, "number": self.number}
        if self.remark:
            data["remark"] = self.remark
        return data


@dataclass(frozen=True)
class Unit:
    """An enrolling unit as the group application (团体申请表) describes it."""

    name: str
    participants: int
    code: str | None = None
    district: str | None = None
    nature: str = "public"
    staff_total: int | None = None  # 在职职工总人数
    staff_insured: int | None = None  # 参加职工医保人数


@dataclass(frozen=True)
class Quote:
    price: Decimal  # list price per person
    unit_price: Decimal  # per person after any discount
    participants: int
    subsidy: Decimal  # total paid by a union on the members' behalf
    union_share: Decimal
    member_share: Decimal
    total_due: Decimal  # what the unit transfers
    participation_rate: Decimal | None  # percent, e.g. 85.00
    account: Account | None
    ok: bool
    violations: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    explain: tuple[str, ...] = ()
    district: str | None = None

    def to_dict(self) -> dict:
        return {
            "price": format_money(self.price),
            "unit_price": format_money(self.unit_price),
            "participants": self.participants,
            "subsidy": format_money(self.subsidy),
            "union_share": format_money(self.union_share),
            "member_share": format_money(self.member_share),
            "total_due": format_money(self.total_due),
            "total_due_capitals": capitals(self.total_due),
            "participation_rate": (
                None if self.participation_rate is None else f"{self.participation_rate:.2f}"
            ),
            "district": self.district,
            "account": self.account.to_dict() if self.account else None,
            "ok": self.ok,
            "violations": list(self.violations),
            "warnings": list(self.warnings),
            "explain": list(self.explain),
        }


@dataclass(frozen=True)
class Benefit:
    code: str
    name: str
    needs: tuple[str, ...]  # facts without which it cannot be assessed
    counts_by: str | None  # the date fact that must fall in cover (admission_date, …)
    attachments: tuple[str, ...] = ()  # documents the claim must carry
    review: str = "on_receipt"  # on_receipt | monthly | quarterly
    pay_within_days: int | None = None
    pay_within_days_max: int | None = None  # the notice's outer limit (Zhangjiakou: 20)
    pay_days_kind: str = "calendar"  # calendar | working
    summary: str = ""
    source: str = ""

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "needs": list(self.needs),
            "counts_by": self.counts_by,
            "attachments": list(self.attachments),
            "review": self.review,
            "pay_within_days": self.pay_within_days,
            "pay_within_days_max": self.pay_within_days_max,
            "pay_days_kind": self.pay_days_kind,
            "summary": self.summary,
            "source": self.source,
        }


@dataclass(frozen=True)
class Exclusion:
    """A reviewer flag (欺诈, 醉酒…) that removes the benefits it names."""

    code: str
    label: str
    benefits: tuple[str, ...]  # empty = every benefit
    recover: bool = False  # paid amounts are clawed back (Wujin: 予以追回)
    unless_causes: tuple[str, ...] = ()  # e.g. orthopaedic correction after an accident
    source: str = ""  # where the notice says so

    def applies(self, benefit: str, cause: str) -> bool:
        if self.benefits and benefit not in self.benefits:
            return False
        return cause not in self.unless_causes


@dataclass(frozen=True)
class ClaimFacts:
    """The vocabulary of ``assess`` (DESIGN.md, "Claim facts"). Unset facts are None."""

    benefit: str
    total_cost: Decimal | None = None
    self_borne: Decimal | None = None
    settled_by_insurance: bool = True
    settled_amount: Decimal | None = None  # Quzhou: the amount settled at the hospital
    cause: str = "illness"
    liability: str | None = None
    liability_share: Decimal | None = None
    grade: int | str | None = None  # 1..10 or "death"
    disease: str | None = None
    patient: str = "member"
    patient_birth_date: date | None = None
    admission_date: date | None = None
    discharge_date: date | None = None
    diagnosis_date: date | None = None
    event_date: date | None = None
    claim_date: date | None = None
    place: str = "mainland"
    loss_amount: Decimal | None = None
    exclusion: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryEntry:
    """What this member was already paid for the city-year (one approved claim)."""

    benefit: str
    payable: Decimal
    counted: Decimal = Decimal("0")


@dataclass(frozen=True)
class RuleRef:
    id: str
    year: int
    source: str = ""

    def to_dict(self) -> dict:
        return {"id": self.id, "year": self.year, "source": self.source}


@dataclass(frozen=True)
class Assessment:
    benefit: str
    payable: Decimal
    counted: Decimal
    rule: RuleRef
    explain: tuple[str, ...] = ()
    refused: bool = False
    reasons: tuple[str, ...] = ()
    recoverable: bool = False  # an exclusion found later claws it back

    def to_dict(self) -> dict:
        return {
            "benefit": self.benefit,
            "payable": format_money(self.payable),
            "payable_capitals": capitals(self.payable),
            "counted": format_money(self.counted),
            "rule": self.rule.to_dict(),
            "explain": list(self.explain),
            "refused": self.refused,
            "reasons": list(self.reasons),
            "recoverable": self.recoverable,
        }


@dataclass(frozen=True)
class RosterColumn:
    field: str  # seq, name, sex, id_number, phone, town, workplace, card_number, …
    titles: tuple[str, ...]  # header texts that name it (found by title, not position)
    required: bool = False


@dataclass(frozen=True)
class RosterFormat:
    """Where a city's roster lives in its workbook and what its columns are called."""

    sheet: str  # the sheet name the seeds use (Sheet2, …)
    title: str  # the roster's title row
    columns: tuple[RosterColumn, ...]
    application_sheet: str | None = None  # Sheet1 (团体申请表), if the city has one
    unit_key: str = "单位编码"  # 医保编码 / 社保编码 / 单位编码

    def to_dict(self) -> dict:
        return {
            "sheet": self.sheet,
            "title": self.title,
            "application_sheet": self.application_sheet,
            "unit_key": self.unit_key,
            "columns": [
                {"field": c.field, "titles": list(c.titles), "required": c.required}
                for c in self.columns
            ],
        }


@dataclass(frozen=True)
class Target:
    """An enrolment or claim target set for a sub-union by the notice."""

    organisation: str
    kind: str  # enrolment | claim_headcount | claim_amount | growth
    figure: Decimal
    base: Decimal | None = None  # the base it was derived from, as given
    group: str | None = None  # e.g. 镇（街道）总工会 / 系统工会
    source: str = ""


@dataclass(frozen=True)
class TargetResult:
    target: Target
    actual: Decimal
    met: bool


@dataclass(frozen=True)
class SmsTemplates:
    """A city's SMS texts as its data file gives them (services/notify/templates.py checks
    and renders them): the signature (【…】), and per template name its raw entry."""

    file: str  # the data file, named in every refusal
    signature: str
    templates: Mapping[str, Mapping[str, object]]
    # what a member does after a payout failure, by payments' reason code (frozen_or_dormant…)
    advice: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class CityPolicy(Protocol):
    """What a city plugin provides. Years are scheme years (the cover year).

    Beyond these, the optional hooks of services/kernel/hooks.py (preferential candidates,
    KPI reports, payout-failure advice, SMS texts), each with a default; services call them through
    ``hooks.hook(policy, name)`` and never import a city's package.
    """

    code: str
    name: str

    def years(self) -> Sequence[int]: ...

    def period(self, year: int) -> SchemePeriod: ...

    def districts(self, year: int) -> Sequence[District]: ...

    def roster_format(self, year: int) -> RosterFormat: ...

    def quote(self, year: int, unit: Unit) -> Quote: ...

    def account(self, year: int, district: str | None, unit_name: str = "") -> Account | None: ...

    def benefits(self, year: int) -> Sequence[Benefit]: ...

    def exclusions(self, year: int) -> Sequence[Exclusion]: ...

    def assess(
        self, year: int, claim: ClaimFacts, history: Sequence[HistoryEntry] = ()
    ) -> Assessment: ...

    def claim_deadline(self, year: int, claim: ClaimFacts) -> date | None: ...

    def targets(self, year: int) -> Sequence[Target]: ...

    def evaluate_targets(
        self, year: int, actuals: Mapping[tuple[str, str], Decimal]
    ) -> Sequence[TargetResult]: ...
