"""A year of Zhangjiakou claims in a claims database, for what-if's test and benchmark.

Members with one to three claims of general or critical illness (some under the 7 000
threshold, some pushing the 30 000 cumulative cap), every one approved or paid at what the
2024 rules granted — computed here from the notice's numbers, not by the plugin.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import insert

from services.claims.models import Claim, metadata
from services.messaging.database import make_engine

CENT = Decimal("0.01")
THRESHOLD = Decimal("7000")  # 第八条第2款 / 第3款: 医疗费总额 7000 元以上
CAP = Decimal("30000")  # 第八条第2款: 累计补助限额 3 万元
GENERAL_RATE = Decimal("0.05")  # 第八条第3款
GENERAL_CAP = Decimal("10000")  # 第八条第3款: 最高1万元, once per period


@dataclass(frozen=True)
class Row:
    member: str
    benefit: str
    cost: Decimal
    day: date


def make_rows(count: int, seed: int = 13) -> list[Row]:
    rng = random.Random(seed)
    rows, start = [], date(2024, 1, 1)
    member = 0
    while len(rows) < count:
        member += 1
        who = f"1301{member:014d}"
        for i in range(rng.choice((1, 1, 2, 3))):
            benefit = rng.choice(("critical_illness", "critical_illness", "general_illness"))
            cost = Decimal(rng.randrange(300_000, 30_000_000)) / 100
            rows.append(
                Row(who, benefit, cost, start + timedelta(days=rng.randrange(0, 360) // 3 * 3 + i))
            )
    return sorted(rows[:count], key=lambda r: (r.member, r.day))


def critical_amounts(rows: list[Row], rate: Decimal) -> Decimal:
    """The critical-illness total at ``rate``: threshold, rounding, then the cumulative cap."""
    total, used, member = Decimal(0), Decimal(0), None
    for row in rows:
        if row.member != member:
            member, used = row.member, Decimal(0)
        if row.benefit != "critical_illness" or row.cost < THRESHOLD:
            continue
        amount = min((row.cost * rate).quantize(CENT, ROUND_HALF_UP), CAP - used)
        used += amount
        total += amount
    return total


def granted_2024(rows: list[Row]) -> list[Decimal]:
    """What each claim was granted in 2024 (critical 10% to the cap; general 5% up to
    10 000, once per period)."""
    out, used, member, general_paid = [], Decimal(0), None, False
    for row in rows:
        if row.member != member:
            member, used, general_paid = row.member, Decimal(0), False
        if row.cost < THRESHOLD or (row.benefit == "general_illness" and general_paid):
            out.append(Decimal(0))
        elif row.benefit == "critical_illness":
            amount = min((row.cost * Decimal("0.10")).quantize(CENT, ROUND_HALF_UP), CAP - used)
            used += amount
            out.append(amount)
        else:
            general_paid = True
            out.append(min((row.cost * GENERAL_RATE).quantize(CENT, ROUND_HALF_UP), GENERAL_CAP))
    return out


def write_claims(url: str, rows: list[Row]) -> None:
    engine = make_engine(url)
    metadata().create_all(engine)
    granted = granted_2024(rows)
    batch = []
    with engine.begin() as conn:
        for row, payable in zip(rows, granted, strict=True):
            facts = {
                "benefit": row.benefit,
                "total_cost": str(row.cost),
                "admission_date": row.day.isoformat(),
            }
            if row.benefit == "critical_illness":
                facts["disease"] = "白血病"
            batch.append(
                {
                    "id": str(uuid.uuid4()),
                    "city": "zhangjiakou",
                    "year": 2024,
                    "benefit": row.benefit,
                    "status": "paid" if payable else "rejected",
                    "id_number": row.member,
                    "facts": facts,
                    "disease": facts.get("disease"),
                    "counts_on": row.day,
                    "received_on": row.day,
                    "payable": payable if payable else None,
                    "counted": row.cost,
                    "created_by": "bench",
                }
            )
            if len(batch) == 5000:
                conn.execute(insert(Claim), batch)
                batch = []
        if batch:
            conn.execute(insert(Claim), batch)
        conn.execute(  # a draft is not a claim yet: what-if leaves it out
            insert(Claim),
            [{"id": str(uuid.uuid4()), "city": "zhangjiakou", "year": 2024, "benefit": "critical_illness",
              "status": "draft", "id_number": "130100000000000000", "facts": {"benefit": "critical_illness"},
              "created_by": "bench"}],
        )  # fmt: skip
    engine.dispose()
