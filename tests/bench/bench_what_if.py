"""What-if benchmark (issue 13 point 6): a year of claims re-assessed under a draft, beside a
bare loop doing the same Decimal arithmetic.

    .venv/bin/python -m tests.bench.bench_what_if [--claims N] [--postgres URL]

Not a timed test (tests/bench/test_bench_what_if.py runs it small so it cannot rot). It
writes N made-up Zhangjiakou 2024 claims (default 100 000: general and critical illness,
one to three per member; tests/onboarding/claim_year.py) into a SQLite file, or into the
PostgreSQL database --postgres names (its claims tables created, then dropped), and times:

- what-if: ``services.onboarding.whatif.run`` as the CLI calls it — the claims streamed from
  the database (yield_per), each claim's facts loaded, assessed under the draft (critical
  illness at 12%) with the member's history, and added up per benefit;
- floor: the same claims, already in memory as Decimals, through the notice's arithmetic
  alone (threshold, rate, rounding, caps, once per period) in a bare loop: what no
  assessment can beat.

Both as claims per second, and the ratio. The goal: 100 000 claims well under a minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from services.kernel.registry import load_registry
from services.onboarding import whatif
from tests.onboarding.claim_year import CAP, CENT, GENERAL_CAP, THRESHOLD, make_rows, write_claims

ROOT = Path(__file__).resolve().parents[2]
ZJK_2024 = ROOT / "plugins/zhangjiakou/mutual_aid_zhangjiakou/data/2024.yaml"


def floor(rows) -> tuple[Decimal, float]:
    """The bare arithmetic of both benefits, per member, on Decimals already parsed."""
    rate, general = Decimal("0.12"), Decimal("0.05")
    started = time.perf_counter()
    total, used, member, general_paid = Decimal(0), Decimal(0), None, False
    for row in rows:
        if row.member != member:
            member, used, general_paid = row.member, Decimal(0), False
        if row.cost < THRESHOLD:
            continue
        if row.benefit == "critical_illness":
            amount = min((row.cost * rate).quantize(CENT, ROUND_HALF_UP), CAP - used)
            used += amount
        elif not general_paid:
            general_paid = True
            amount = min((row.cost * general).quantize(CENT, ROUND_HALF_UP), GENERAL_CAP)
        else:
            continue
        total += amount
    return total, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="a database to write the claims into")
    args = parser.parse_args(argv)

    policy = load_registry().get("zhangjiakou")
    with tempfile.TemporaryDirectory() as folder:
        draft = Path(folder) / "draft.yaml"
        text = ZJK_2024.read_text(encoding="utf-8")
        draft.write_text(text.replace('rate: "0.10"', 'rate: "0.12"', 1), encoding="utf-8")
        url = args.postgres or f"sqlite:///{folder}/claims.sqlite"
        rows = make_rows(args.claims)
        started = time.perf_counter()
        write_claims(url, rows)
        print(
            f"wrote {len(rows)} claims in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
        )
        try:
            started, cpu = time.perf_counter(), time.process_time()
            report = whatif.run(policy, 2024, draft, url)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            if args.postgres:
                _drop(url)
        expected, floor_seconds = floor(rows)
        drafted = Decimal(report["total"]["paid_draft"])
        assert drafted == expected, f"what-if {drafted} != floor {expected}"
        print(
            f"what-if {len(rows):>8} claims {seconds:8.2f} s {len(rows) / seconds:>10.0f} claims/s"
            f" (this process's CPU {cpu:.2f} s: the machine is shared)"
        )
        print(
            f"floor   {len(rows):>8} claims {floor_seconds:8.2f} s {len(rows) / floor_seconds:>10.0f} claims/s"
        )
        print(
            f"ratio   {seconds / floor_seconds:.0f}x the bare Decimal loop; total under the draft {drafted}"
        )
    return 0


def _drop(url: str) -> None:
    from services.claims.models import metadata
    from services.messaging.database import make_engine

    engine = make_engine(url)
    metadata().drop_all(engine)
    engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
