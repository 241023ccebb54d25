"""Statistics of a city-year: claims and amounts by benefit and by disease, and per unit (and
organisation) the paid headcount and amount against premiums — the reimbursement rate.

Premiums and member numbers are not the claims service's: enrollment and payments hold them,
so they come in as a mapping, unit id → ``UnitFigures``. The amounts are the ledger's, never a
claim's fields: ``granted`` is what approvals granted less clawbacks, ``paid`` what was paid
(by payout, or by the hospital in a direct settlement) less clawbacks; a member counts in the
paid headcount when their net paid amount is above zero.

Uses: Zhangjiakou's per-period count of claims by disease category (附件2); Quzhou's
reimbursement rate (claims paid ÷ premiums), the rule behind the preferential units of a later
year (``unit_year_stats`` → the city's ``preferential_candidates`` hook); Keqiao's claim KPI per
sub-union (paid headcount against members, paid amount against premiums: ``by_organisation``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from services.claims import rules
from services.claims.models import Claim, LedgerEntry
from services.kernel.hooks import UnitYearStats, hook
from services.kernel.money import format_money
from services.kernel.policy import CityPolicy

ZERO = Decimal("0")
RATE = Decimal("0.0001")
NO_DISEASE = "（未填病种）"
GRANTED = ("payable", "clawback")
PAID = ("paid", "clawback")
# decided in the member's favour and not clawed back (a direct settlement is paid on import)
STANDING = (rules.APPROVED, rules.PAID, rules.PAYMENT_FAILED)


@dataclass(frozen=True)
class UnitFigures:
    """What enrollment and payments know of a unit for the year."""

    name: str
    members: int
    premiums: Decimal  # premiums (互助金) paid for the year
    district: str | None = None  # Quzhou: the block
    code: str | None = None  # 医保编码 / 社保编码
    organisation: str | None = None  # the sub-union it reports to (Keqiao's KPI)


@dataclass
class Line:
    """One row of a breakdown: claims received, standing (approved or paid), granted, paid."""

    key: str
    label: str
    received: int = 0
    standing: int = 0
    granted: Decimal = ZERO
    paid: Decimal = ZERO

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "received": self.received,
            "standing": self.standing,
            "granted": format_money(self.granted),
            "paid": format_money(self.paid),
        }


@dataclass(frozen=True)
class UnitRow:
    unit_id: str
    unit: str
    organisation: str | None
    members: int | None
    premiums: Decimal | None
    claims: int  # standing claims
    paid_headcount: int
    paid: Decimal
    rate: Decimal | None  # paid ÷ premiums, to 0.0001; None without premiums

    def to_dict(self) -> dict:
        return {
            "unit_id": self.unit_id,
            "unit": self.unit,
            "organisation": self.organisation,
            "members": self.members,
            "premiums": None if self.premiums is None else format_money(self.premiums),
            "claims": self.claims,
            "paid_headcount": self.paid_headcount,
            "paid": format_money(self.paid),
            "reimbursement_rate": None if self.rate is None else f"{self.rate}",
        }


@dataclass
class _Claim:
    benefit: str
    disease: str | None
    status: str
    unit_id: str | None
    unit_name: str | None
    id_number: str
    granted: Decimal
    paid: Decimal


def _claims(session: Session, city: str, year: int) -> list[_Claim]:
    """Each submitted claim of the city-year with its net granted and paid amounts."""
    granted = func.coalesce(
        func.sum(case((LedgerEntry.kind.in_(GRANTED), LedgerEntry.amount), else_=0)), 0
    )
    paid = func.coalesce(
        func.sum(case((LedgerEntry.kind.in_(PAID), LedgerEntry.amount), else_=0)), 0
    )
    query = (
        select(
            Claim.benefit,
            Claim.disease,
            Claim.status,
            Claim.unit_id,
            Claim.unit_name,
            Claim.id_number,
            granted,
            paid,
        )
        .outerjoin(LedgerEntry, LedgerEntry.claim_id == Claim.id)
        .where(Claim.city == city, Claim.year == year, Claim.status != rules.DRAFT)
        .group_by(
            Claim.id,
            Claim.benefit,
            Claim.disease,
            Claim.status,
            Claim.unit_id,
            Claim.unit_name,
            Claim.id_number,
        )
    )
    return [_Claim(*row[:6], Decimal(row[6]), Decimal(row[7])) for row in session.execute(query)]


def rate(paid: Decimal, premiums: Decimal | None) -> Decimal | None:
    if not premiums:
        return None
    return (paid / premiums).quantize(RATE, rounding=ROUND_HALF_UP)


def claim_statistics(
    session: Session,
    *,
    city: str,
    year: int,
    policy: CityPolicy | None = None,
    unit_ids: Iterable[str] | None = None,
) -> dict:
    """Claims and amounts of a city-year (or of some units) by benefit and by disease."""
    names = {b.code: b.name for b in policy.benefits(year)} if policy is not None else {}
    only = set(unit_ids) if unit_ids is not None else None
    by_benefit: dict[str, Line] = {}
    by_disease: dict[str, Line] = {}
    total = Line("total", "合计")
    for claim in _claims(session, city, year):
        if only is not None and claim.unit_id not in only:
            continue
        disease = claim.disease or NO_DISEASE
        lines = (
            by_benefit.setdefault(
                claim.benefit, Line(claim.benefit, names.get(claim.benefit, claim.benefit))
            ),
            by_disease.setdefault(disease, Line(disease, disease)),
            total,
        )
        for line in lines:
            line.received += 1
            line.standing += claim.status in STANDING
            line.granted += claim.granted
            line.paid += claim.paid
    return {
        "city": city,
        "year": year,
        "by_benefit": [line.to_dict() for line in sorted(by_benefit.values(), key=lambda x: x.key)],
        "by_disease": [
            line.to_dict()
            for line in sorted(by_disease.values(), key=lambda x: (-x.received, x.key))
        ],
        "total": total.to_dict(),
    }


@dataclass
class _Unit:
    name: str | None = None
    claims: int = 0
    paid_by_member: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))


def _per_unit(session: Session, city: str, year: int) -> dict[str, _Unit]:
    units: dict[str, _Unit] = defaultdict(_Unit)
    for claim in _claims(session, city, year):
        if claim.unit_id is None:
            continue
        unit = units[claim.unit_id]
        unit.name = unit.name or claim.unit_name
        unit.claims += claim.status in STANDING
        unit.paid_by_member[claim.id_number] += claim.paid
    return units


def by_unit(
    session: Session, *, city: str, year: int, units: Mapping[str, UnitFigures]
) -> list[UnitRow]:
    """Every unit given (with or without claims) and every unit with claims (without
    figures: no rate): standing claims, paid headcount and amount, reimbursement rate."""
    recorded = _per_unit(session, city, year)
    rows = []
    for unit_id in sorted(set(units) | set(recorded)):
        figures, found = units.get(unit_id), recorded.get(unit_id, _Unit())
        paid = sum(found.paid_by_member.values(), ZERO)
        rows.append(
            UnitRow(
                unit_id=unit_id,
                unit=figures.name if figures else (found.name or unit_id),
                organisation=figures.organisation if figures else None,
                members=figures.members if figures else None,
                premiums=figures.premiums if figures else None,
                claims=found.claims,
                paid_headcount=sum(1 for v in found.paid_by_member.values() if v > 0),
                paid=paid,
                rate=rate(paid, figures.premiums if figures else None),
            )
        )
    return rows


def by_organisation(rows: Iterable[UnitRow]) -> list[dict]:
    """Unit rows added up per organisation (sub-union): Keqiao's claim KPI is per sub-union."""
    totals: dict[str, dict] = {}
    for row in rows:
        key = row.organisation or "（未归属）"
        t = totals.setdefault(
            key, {"members": 0, "premiums": ZERO, "claims": 0, "paid_headcount": 0, "paid": ZERO}
        )
        t["members"] += row.members or 0
        t["premiums"] += row.premiums or ZERO
        t["claims"] += row.claims
        t["paid_headcount"] += row.paid_headcount
        t["paid"] += row.paid
    return [
        {
            "organisation": key,
            "members": t["members"],
            "premiums": format_money(t["premiums"]),
            "claims": t["claims"],
            "paid_headcount": t["paid_headcount"],
            "paid": format_money(t["paid"]),
            "reimbursement_rate": None if (r := rate(t["paid"], t["premiums"])) is None else f"{r}",
        }
        for key, t in sorted(totals.items())
    ]


def unit_year_stats(
    session: Session, *, city: str, year: int, units: Mapping[str, UnitFigures]
) -> list[UnitYearStats]:
    """Each unit's year (members, premiums, net paid claims) as the kernel's ``UnitYearStats``:
    what a city's ``preferential_candidates`` hook takes."""
    paid = {row.unit_id: row.paid for row in by_unit(session, city=city, year=year, units=units)}
    return [
        UnitYearStats(
            year=year,
            unit=figures.name,
            district=figures.district or "",
            members=figures.members,
            premiums=figures.premiums,
            claims=paid.get(unit_id, ZERO),
            code=figures.code,
        )
        for unit_id, figures in units.items()
    ]


def preferential_candidates(
    session: Session, policy: CityPolicy, *, year: int, units: Mapping[str, UnitFigures]
) -> list[UnitYearStats]:
    """The units that qualify for ``year``'s preferential price, from the records of the year
    the city looks back to (Quzhou 2025 三: 2023). A city without the hook has none."""
    basis = hook(policy, "preferential_basis_year")(year)
    if basis is None:
        return []
    stats = unit_year_stats(session, city=policy.code, year=basis, units=units)
    return hook(policy, "preferential_candidates")(year, stats)
