"""``mutual-aid city what-if``: last year's claims under a draft year file.

What the union needs before it signs the next notice: every claim of a past scheme year
re-assessed under a draft (typically the file ``new-year`` made, with the numbers the new
notice proposes), per benefit and in total: claims, what was granted then, what the draft
would grant, and the difference.

The claims come from the claims service's database, streamed (``yield_per``: a server-side
cursor on PostgreSQL, batches on SQLite), one member at a time in the order their claims
count, so caps and "once per period" see the member's earlier claims under the draft. When
the draft is for another year than the claims (2025's rules on 2024's claims), every date of
a claim moves by the difference, so the claim falls in the draft's cover as it fell in its
own. "Then" is what approval granted (``payable``) for claims standing approved or paid;
refused, returned and clawed-back claims granted nothing.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from services.kernel.errors import PolicyError
from services.kernel.facts import load_claim
from services.kernel.money import format_money
from services.kernel.parameters import YEAR_FILE, read_yaml
from services.kernel.policy import CityPolicy, HistoryEntry

ZERO = Decimal("0")
STANDING = ("approved", "paid", "payment_failed")  # services/claims/rules.py
DATE_FACTS = (
    "admission_date",
    "discharge_date",
    "diagnosis_date",
    "event_date",
    "claim_date",
    "patient_birth_date",  # moved too, so every age stays what it was
)
BATCH = 2000


class WhatIfError(ValueError):
    """The draft or the claims database cannot be used as asked."""


@dataclass(frozen=True)
class ClaimRow:
    """What what-if reads of a claim: who, which benefit, the facts, what was granted."""

    member: str
    benefit: str
    facts: dict
    then: Decimal


@dataclass
class Line:
    benefit: str
    name: str
    claims: int = 0
    then: Decimal = ZERO
    draft: Decimal = ZERO
    refused_by_draft: int = 0
    errors: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "benefit": self.benefit,
            "name": self.name,
            "claims": self.claims,
            "paid_then": format_money(self.then),
            "paid_draft": format_money(self.draft),
            "difference": format_money(self.draft - self.then),
            "refused_by_draft": self.refused_by_draft,
            "errors": self.errors,
            "error_reasons": dict(sorted(self.reasons.items(), key=lambda kv: -kv[1])[:5]),
        }


def draft_policy(policy: CityPolicy, draft: Path, folder: Path) -> tuple[CityPolicy, int]:
    """The city's own class reading the draft (and any schedule beside the city's data)."""
    raw = read_yaml(Path(draft))
    if not isinstance(raw, dict) or not isinstance(raw.get("year"), int):
        raise WhatIfError(f"{draft}: not a year file (no year:)")
    year = raw["year"]
    data_dir = getattr(policy, "data_dir", None)
    if data_dir is None:
        raise WhatIfError(f"{policy.code}: its numbers are not year files; what-if needs them")
    for path in Path(data_dir).iterdir():  # schedules and other files the year may name
        if path.is_file() and not YEAR_FILE.match(path.name):
            shutil.copyfile(path, folder / path.name)
    shutil.copyfile(draft, folder / f"{year}.yaml")
    try:
        candidate = type(policy)(data_dir=folder)
        candidate.year_data(year)  # validated now: a broken draft is one line, not 100 000
    except TypeError:
        raise WhatIfError(f"{policy.code}: its class cannot be built on another folder") from None
    return candidate, year


def _moved(facts: dict, years: int) -> dict:
    if not years:
        return facts
    moved = dict(facts)
    for name in DATE_FACTS:
        value = moved.get(name)
        if isinstance(value, str) and len(value) >= 10:
            day = date.fromisoformat(value[:10])
            try:
                day = day.replace(year=day.year + years)
            except ValueError:  # 29 February
                day = day.replace(year=day.year + years, day=28)
            moved[name] = day.isoformat()
    return moved


def what_if(
    policy: CityPolicy, year: int, draft: CityPolicy, draft_year: int, rows: Iterable[ClaimRow]
) -> dict:
    """Re-assess ``rows`` (grouped by member, in the order their claims count) under ``draft``."""
    names = {b.code: b.name for b in policy.benefits(year)}
    names.update({b.code: b.name for b in draft.benefits(draft_year)})
    lines: dict[str, Line] = {}
    total = Line("total", "合计")
    member, history = None, []
    shift = draft_year - year
    started = time.perf_counter()
    for row in rows:
        if row.member != member:
            member, history = row.member, []
        line = lines.get(row.benefit)
        if line is None:
            line = lines[row.benefit] = Line(row.benefit, names.get(row.benefit, row.benefit))
        line.claims += 1
        line.then += row.then
        try:
            answer = draft.assess(draft_year, load_claim(_moved(row.facts, shift)), history)
        except PolicyError as exc:
            line.errors += 1
            reason = str(exc)[:120]
            line.reasons[reason] = line.reasons.get(reason, 0) + 1
            continue
        if answer.refused:
            line.refused_by_draft += 1
            continue
        line.draft += answer.payable
        history.append(HistoryEntry(answer.benefit, answer.payable, answer.counted))
    for line in lines.values():
        total.claims += line.claims
        total.then += line.then
        total.draft += line.draft
        total.refused_by_draft += line.refused_by_draft
        total.errors += line.errors
    seconds = time.perf_counter() - started
    return {
        "city": policy.code,
        "year": year,
        "draft_year": draft_year,
        "by_benefit": [lines[k].to_dict() for k in sorted(lines)],
        "total": {k: v for k, v in total.to_dict().items() if k not in ("benefit", "name")},
        "seconds": round(seconds, 3),
        "claims_per_second": int(total.claims / seconds) if seconds else None,
    }


def claim_rows(session, city: str, year: int) -> Iterator[ClaimRow]:
    """The submitted claims of a city-year, streamed member by member."""
    from sqlalchemy import select

    from services.claims.models import Claim

    query = (
        select(Claim.id_number, Claim.benefit, Claim.status, Claim.facts, Claim.payable)
        .where(Claim.city == city, Claim.year == year, Claim.status != "draft")
        .order_by(Claim.id_number, Claim.counts_on, Claim.received_on, Claim.id)
        .execution_options(yield_per=BATCH)
    )
    for member, benefit, status, facts, payable in session.execute(query):
        then = payable if status in STANDING and payable is not None else ZERO
        yield ClaimRow(member, benefit, facts or {}, Decimal(then))


def run(policy: CityPolicy, year: int, draft_file: Path, claims_db: str) -> dict:
    from sqlalchemy.orm import Session

    from services.messaging.database import make_engine

    with tempfile.TemporaryDirectory() as folder:
        draft, draft_year = draft_policy(policy, Path(draft_file), Path(folder))
        engine = make_engine(claims_db, must_exist=True)
        try:
            with Session(engine) as session:
                report = what_if(
                    policy, year, draft, draft_year, claim_rows(session, policy.code, year)
                )
        finally:
            engine.dispose()
    report["draft"] = str(draft_file)
    return report
