"""Hospital settlement records (Quzhou direct settlement), imported as paid claims.

In Quzhou the mutual-aid share is settled at the hospital with the medical-insurance card, at
discharge (POLICIES.md, Quzhou; 江山 2020 五): a claim arrives as a settlement record with its
amount already fixed. Each record's member must be covered on the admission date in the
batch's year; it is then recorded as a claim of the member's unit, already paid — by the
hospital, so no payout is made to the member — and it counts in the unit's reimbursement rate
(statistics.py), the figure behind the next preferential list.

A batch comes as a file or as a list of dicts (an RPC from the settlement agency). As with
rosters, a batch with any bad row stores nothing and every bad row is named with its reason.

The file and its columns: settlement_rows.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.claims import accumulators, events, rules
from services.claims.claims import EVENT_VERSION, Cover, Record, benefit_of, facts_json, transition
from services.claims.exceptions import Conflict
from services.claims.models import Claim, LedgerEntry, SettlementBatch, SettlementRecord
from services.claims.settlement_rows import RowIssue, check_row, read_file
from services.kernel.errors import PolicyError
from services.kernel.money import format_money
from services.kernel.policy import CityPolicy, ClaimFacts
from services.messaging.bulk import any_of
from services.messaging.database import utc_now

BENEFIT = "direct_settlement"
HOSPITAL = "hospital"  # the actor of the paid marker: the hospital settled it


@dataclass(frozen=True)
class SettlementResult:
    rows: int
    total: Decimal
    errors: tuple[RowIssue, ...] = ()
    batch_id: str | None = None

    @property
    def importable(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "rows": self.rows,
            "total": format_money(self.total),
            "errors": [e.to_dict() for e in self.errors],
        }


# ---- importing -----------------------------------------------------------------------------


def import_settlements(
    session: Session,
    policy: CityPolicy,
    *,
    year: int,
    actor: str,
    cover: Cover,
    record: Record,
    data: bytes | None = None,
    filename: str | None = None,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> SettlementResult:
    """Check a batch (``data`` of a file, or ``records``) and, only when every row is good,
    record it as paid direct-settlement claims; otherwise the result names each bad row."""
    if (data is None) == (records is None):
        raise ValueError("给出 data（文件）或 records（列表）之一")
    # the city-year has direct settlement, or the batch is refused by name
    benefit_of(policy, year, BENEFIT)
    if data is not None:
        name = filename or "结算记录"
        raw_rows = read_file(data, name)
        digest = hashlib.sha256(data).hexdigest()
    else:
        name = filename or "结算记录（接口）"
        raw_rows = [(i, dict(r)) for i, r in enumerate(records, start=1)]
        canonical = json.dumps(raw_rows, ensure_ascii=False, sort_keys=True, default=str)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
    earlier = session.scalar(
        select(SettlementBatch).where(
            SettlementBatch.city == policy.code, SettlementBatch.sha256 == digest
        )
    )
    if earlier is not None:
        raise Conflict(
            f"{name} 已于 {earlier.created_at:%Y-%m-%d} 导入（批次 {earlier.id}，{earlier.row_count} 条）"
        )

    issues: list[RowIssue] = []
    checked: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for number, raw in raw_rows:
        row = check_row(number, raw, issues)
        if row is None:
            continue
        first = seen.setdefault(row["settlement_no"], number)
        if first != number:
            issues.append(
                RowIssue(
                    number, "结算单号", f"与第 {first} 行的结算单号 {row['settlement_no']} 重复"
                )
            )
            continue
        checked.append((number, row))
    if not raw_rows:
        issues.append(RowIssue(0, "", "没有结算记录"))
    _already_imported(session, policy.code, checked, issues)

    covers = _CoverCache(cover, policy.code)
    prepared = []
    for number, row in checked:
        covered = covers(row["id_number"], row["admission_date"])
        if covered is None:
            issues.append(
                RowIssue(
                    number,
                    "入院日期",
                    f"入院日期 {row['admission_date'].isoformat()} 该人员不在{policy.name}的保障范围内（未参保或不在保障期）",
                )
            )
            continue
        if covered["year"] != year:
            issues.append(
                RowIssue(
                    number,
                    "入院日期",
                    f"入院日期属 {covered['year']} 年度的保障，不是本批次的 {year} 年度",
                )
            )
            continue
        if row["name"] and covered.get("name") and row["name"] != covered["name"]:
            issues.append(
                RowIssue(
                    number, "姓名", f"姓名「{row['name']}」与参保名册「{covered['name']}」不一致"
                )
            )
            continue
        facts = ClaimFacts(
            benefit=BENEFIT,
            settled_amount=row["settled_amount"],
            total_cost=row["total_cost"],
            admission_date=row["admission_date"],
            discharge_date=row["discharge_date"],
            disease=row["disease"],
        )
        try:
            assessment = policy.assess(year, facts)
        except PolicyError as exc:
            issues.append(RowIssue(number, "", str(exc)))
            continue
        if assessment.refused:
            issues.append(RowIssue(number, "", "；".join(assessment.reasons)))
            continue
        prepared.append((number, row, covered, facts, assessment))
    if issues:
        return SettlementResult(
            len(raw_rows),
            sum((r["settled_amount"] for _, r in checked), Decimal(0)),
            tuple(sorted(issues, key=lambda i: i.row)),
        )

    total = sum((a.payable for *_, a in prepared), Decimal(0))
    try:
        with session.begin_nested():
            batch = SettlementBatch(
                city=policy.code,
                year=year,
                filename=name,
                sha256=digest,
                row_count=len(prepared),
                total=total,
                actor=actor,
                created_at=utc_now(),
            )
            session.add(batch)
            session.flush()
            # one member's rows together, members in a fixed order: two batches never lock
            # one another in a cycle
            for number, row, covered, facts, assessment in sorted(
                prepared, key=lambda p: (p[1]["id_number"], p[0])
            ):
                _record_one(session, policy, batch, actor, number, row, covered, facts, assessment)
            session.flush()
    except IntegrityError:
        # the unique settlement number or file: another import stored some of it meanwhile
        raise Conflict(f"{name} 中的结算记录刚被另一批次导入；请重新导入以查看是哪几行") from None
    record(
        events.SETTLEMENTS_RECORDED,
        {
            "v": EVENT_VERSION,
            "batch_id": batch.id,
            "city": policy.code,
            "year": year,
            "rows": len(prepared),
            "total": format_money(total),
        },
    )
    return SettlementResult(len(prepared), total, (), batch.id)


def _already_imported(
    session: Session, city: str, checked: list[tuple[int, dict]], issues: list[RowIssue]
) -> None:
    numbers = [row["settlement_no"] for _, row in checked]
    taken: set[str] = set()
    for among in any_of(session, SettlementRecord.settlement_no, numbers):
        taken.update(
            session.scalars(
                select(SettlementRecord.settlement_no).where(SettlementRecord.city == city, among)
            )
        )
    kept = []
    for number, row in checked:
        if row["settlement_no"] in taken:
            issues.append(RowIssue(number, "结算单号", f"结算单号 {row['settlement_no']} 已导入过"))
        else:
            kept.append((number, row))
    checked[:] = kept


class _CoverCache:
    """Ask ``cover`` once per person and cover period: a batch names the same people often."""

    def __init__(self, cover: Cover, city: str):
        self.cover, self.city = cover, city
        self.known: dict[str, list[Mapping[str, Any]]] = {}

    def __call__(self, id_number: str, day: date) -> Mapping[str, Any] | None:
        for found in self.known.get(id_number, ()):
            start, end = (date.fromisoformat(d) for d in found["cover"])
            if start <= day <= end:
                return found
        found = self.cover(self.city, id_number, day)
        if found is not None and found.get("cover"):
            self.known.setdefault(id_number, []).append(found)
        return found


def _record_one(session, policy, batch, actor, number, row, covered, facts, assessment) -> None:
    paid_on = row["settled_on"] or row["discharge_date"] or row["admission_date"]
    claim = Claim(
        city=policy.code,
        year=batch.year,
        kind=BENEFIT,
        benefit=BENEFIT,
        status=rules.PAID,
        id_number=row["id_number"],
        name=row["name"] or covered.get("name"),
        member_id=covered.get("member_id"),
        unit_id=covered.get("unit_id"),
        unit_name=covered.get("unit_name"),
        district=covered.get("district"),
        application_id=covered.get("application_id"),
        facts=facts_json(facts),
        disease=row["disease"],
        counts_on=row["admission_date"],
        assessment=assessment.to_dict(),
        payable=assessment.payable,
        counted=assessment.counted,
        received_on=paid_on,
        paid_on=paid_on,
        payout_id=row["settlement_no"],
        created_by=actor,
    )
    session.add(claim)
    session.flush()
    transition(
        session,
        claim,
        rules.PAID,
        actor,
        f"医院直接结算（{batch.filename} 第 {number} 行，结算单号 {row['settlement_no']}）",
        new=True,
    )
    accumulator, totals = accumulators.lock(
        session, city=claim.city, year=claim.year, id_number=claim.id_number
    )
    accumulators.add(
        session,
        accumulator,
        totals,
        BENEFIT,
        payable=assessment.payable,
        counted=assessment.counted,
        claims=1,
    )
    common = {
        "claim_id": claim.id,
        "city": claim.city,
        "year": claim.year,
        "id_number": claim.id_number,
        "unit_id": claim.unit_id,
        "benefit": BENEFIT,
        "at": utc_now(),
    }
    session.add(
        LedgerEntry(
            **common,
            kind="payable",
            amount=assessment.payable,
            counted=assessment.counted,
            reference=assessment.rule.id,
            actor=actor,
        )
    )
    session.add(
        LedgerEntry(
            **common,
            kind="paid",
            amount=assessment.payable,
            reference=row["settlement_no"],
            reason=row["hospital"],
            actor=HOSPITAL,
        )
    )
    session.add(
        SettlementRecord(
            batch_id=batch.id,
            claim_id=claim.id,
            city=claim.city,
            source_row=number,
            settlement_no=row["settlement_no"],
            hospital=row["hospital"],
            settled_on=row["settled_on"],
        )
    )


def batch_claims(session: Session, *, batch_id: str) -> Iterable[Claim]:
    return session.scalars(
        select(Claim)
        .join(SettlementRecord, SettlementRecord.claim_id == Claim.id)
        .where(SettlementRecord.batch_id == batch_id)
        .order_by(SettlementRecord.source_row)
    )
