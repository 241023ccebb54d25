"""Assessment in process (issue 14): claims assessed per second, beside bare Decimal loops.

    .venv/bin/python -m tests.bench.bench_assess [--claims N]

For every installed city and year: its seed cases' single-claim assessments (cases/<year>.yaml,
the ones that answer rather than raise), loaded once, then ``policy.assess`` run round-robin
over them N times (default 20 000): claims/s, the mix of that city's benefits. Then the two
goals of the issue, each beside a bare loop doing the same Decimal arithmetic with nothing
else (the floor):

- a fixed-amount benefit (Zhangjiakou's dialysis, 5000 once a period past a 7000 cost
  threshold): ≥ 50 000/s;
- Wujin's banded inpatient (nine [from, to) bands on the year's self-borne total): ≥ 20 000/s.

Not a timed test; test_bench_smoke.py runs it small.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import yaml

from services.kernel.facts import load_claim, load_history
from services.kernel.registry import load_registry

FEN = Decimal("0.01")
GOALS = {"fixed": 50_000, "banded": 20_000}
GOAL_CLAIMS = {  # name: (city, claim), both 2024
    "fixed": ("zhangjiakou", {"benefit": "dialysis", "total_cost": "8000",
                              "admission_date": "2024-04-01"}),
    "banded": ("wujin", {"benefit": "inpatient", "self_borne": "23456.78",
                         "admission_date": "2024-06-01"}),
}  # fmt: skip
BANDS = [
    (Decimal(a), None if b is None else Decimal(b), Decimal(c))
    for a, b, c in [
        ("1000", "5000", "500"), ("5000", "10000", "1000"), ("10000", "15000", "1500"),
        ("15000", "20000", "2000"), ("20000", "30000", "3000"), ("30000", "40000", "5000"),
        ("40000", "50000", "10000"), ("50000", "100000", "20000"), ("100000", None, "50000"),
    ]
]  # fmt: skip


def per_second(run: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        run()
    return n / (time.perf_counter() - started)


def floor_fixed(cost: Decimal = Decimal("8000")) -> Decimal:
    if cost < Decimal("7000"):
        return Decimal(0).quantize(FEN)
    return Decimal("5000").quantize(FEN, rounding=ROUND_HALF_UP)


def floor_banded(total: Decimal = Decimal("23456.78")) -> Decimal:
    for low, high, amount in BANDS:
        if total >= low and (high is None or total < high):
            return amount.quantize(FEN, rounding=ROUND_HALF_UP)
    return Decimal(0).quantize(FEN)


def seed_claims(policy, year: int) -> list:
    cases = Path(inspect.getfile(type(policy))).parent / "cases" / f"{year}.yaml"
    loaded = []
    for case in yaml.safe_load(cases.read_text(encoding="utf-8")) or []:
        if "assess" not in case:
            continue
        data = case["assess"]
        try:
            claim, history = load_claim(data["claim"]), load_history(data.get("history"))
            policy.assess(year, claim, history)
        except Exception:  # noqa: BLE001 - a case whose answer is an error is not a claim paid
            continue
        loaded.append((claim, history))
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=20_000, help="assessments per figure")
    args = parser.parse_args(argv)
    n = args.claims
    registry = load_registry()
    print(f"{'city':<13}{'year':>5}{'cases':>7}{'claims/s':>12}")
    for installed in registry:
        policy = installed.policy
        for year in policy.years():
            claims = seed_claims(policy, year)
            if not claims:
                continue
            i = iter(range(1 << 62))

            def one(claims=claims, policy=policy, year=year, i=i):
                claim, history = claims[next(i) % len(claims)]
                return policy.assess(year, claim, history)

            print(f"{installed.code:<13}{year:>5}{len(claims):>7}{per_second(one, n):>12,.0f}")

    floors = {"fixed": floor_fixed, "banded": floor_banded}
    print(f"\n{'goal':<8}{'claims/s':>12}{'floor/s':>12}{'floor/claim':>13}  goal")
    for name, (city, data) in GOAL_CLAIMS.items():
        policy = registry.get(city)
        claim, history = load_claim(data), load_history(None)
        answer = policy.assess(2024, claim, history)
        assert not answer.refused and answer.payable > 0, answer
        rate = per_second(lambda p=policy, c=claim, h=history: p.assess(2024, c, h), n)
        floor = per_second(floors[name], n)
        verdict = "ok" if rate >= GOALS[name] else "SLOW"
        print(
            f"{name:<8}{rate:>12,.0f}{floor:>12,.0f}{floor / rate:>12.1f}x"
            f"  ≥ {GOALS[name]:,}/s {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
