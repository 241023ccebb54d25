"""Approvals per second on PostgreSQL (issue 14), as they were and as they are, with the
statements each costs.

    .venv/bin/python -m tests.bench.bench_approvals --postgres ADMIN_URL [--claims N]

In a throwaway database: 2N Zhangjiakou claims submitted (N default 200, a member each), then
N approved one transaction each as the service approves them now (``ops.approve`` given the
registry's lookup; an engine that pings only rested connections), and N as they were approved
before issue 14, re-enacted on the same code: pool_pre_ping on, the service reading the claim
to learn its city, the member-year INSERT … ON CONFLICT before its lock, and the accumulator's
updated_at written. Statements are counted by a SQLAlchemy event listener (pre-ping's round
trip is not a statement SQLAlchemy reports; it is named beside the count). The two runs
alternate in batches of 20, so both see the same machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date

from sqlalchemy import create_engine, event, update

from services.claims import accumulators
from services.claims import claims as ops
from services.claims.models import Accumulator, metadata
from services.kernel.registry import load_registry
from services.messaging.database import make_engine, make_session_factory, session_scope, utc_now
from services.messaging.outbox import record_event
from tests.bench.bench_roster_import import throwaway_postgres
from tests.claims.flow import FakeCover, new_claim
from tests.enrollment.samples import person

DAY = date(2024, 6, 10)
FACTS = {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-03-01"}


def approve_now(session, registry, claim_id: str) -> None:
    ops.approve(session, registry.get, claim_id=claim_id, actor="bench", today=DAY,
                record=lambda t, p: record_event(session, t, p))  # fmt: skip


def approve_before(session, registry, claim_id: str) -> None:
    claim = ops.get_claim(session, claim_id)  # the service read the claim for its city
    accumulators.ensure(session, city=claim.city, year=claim.year, id_number=claim.id_number)
    ops.approve(session, registry.get(claim.city), claim_id=claim_id, actor="bench", today=DAY,
                record=lambda t, p: record_event(session, t, p))  # fmt: skip
    session.execute(
        update(Accumulator)
        .where(Accumulator.city == claim.city, Accumulator.id_number == claim.id_number)
        .values(updated_at=utc_now())
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, metavar="ADMIN_URL")
    parser.add_argument("--claims", type=int, default=200, help="approvals of each kind")
    args = parser.parse_args(argv)
    registry = load_registry()
    zhangjiakou = registry.get("zhangjiakou")
    with throwaway_postgres(args.postgres) as url:
        now_engine = make_engine(url, pool_size=2)
        before_engine = create_engine(url, pool_size=2, pool_pre_ping=True)
        metadata().create_all(now_engine)
        cover, ids = FakeCover(), []
        with session_scope(make_session_factory(now_engine)) as session:
            for i in range(2 * args.claims):
                who = person(1000 + i)
                cover.enrol("zhangjiakou", 2024, who)
                claim = new_claim(session, zhangjiakou, cover, who, FACTS, year=2024, today=DAY)
                ids.append(claim.id)
        runs = {
            "before": (before_engine, approve_before, ids[: args.claims]),
            "now": (now_engine, approve_now, ids[args.claims :]),
        }
        seconds = {name: 0.0 for name in runs}
        statements = {name: 0 for name in runs}
        for name, (engine, _, _) in runs.items():
            event.listen(
                engine, "before_cursor_execute", lambda *a, n=name: statements.__setitem__(n, statements[n] + 1)
            )  # fmt: skip
        for start in range(0, args.claims, 20):
            for name, (engine, approve, claim_ids) in runs.items():
                factory = make_session_factory(engine)
                started = time.perf_counter()
                for claim_id in claim_ids[start : start + 20]:
                    with session_scope(factory) as session:
                        approve(session, registry, claim_id)
                seconds[name] += time.perf_counter() - started
        print(f"{'approvals':<10}{'n':>6}{'per s':>10}{'statements each':>17}")
        for name in runs:
            each = statements[name] / args.claims
            ping = " + a pre-ping" if name == "before" else ""
            print(
                f"{name:<10}{args.claims:>6}{args.claims / seconds[name]:>10,.0f}{each:>17.1f}{ping}"
            )
        now_engine.dispose()
        before_engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
