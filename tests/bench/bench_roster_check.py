"""Roster check benchmark (issue 14): checking a roster beside a bare calamine read of it.

    .venv/bin/python -m tests.bench.bench_roster_check [--rows N] [--repeat N]

Writes the same generated roster as bench_roster_import (Quzhou's 2025 format, N valid people,
default 100 000, .xlsx), then, in this one process and alternating so both see the same
machine, times (best of --repeat, default 3):

- floor: python-calamine opens the workbook and hands every row of the roster sheet to Python;
- check: ``roster.read_roster`` on the file's bytes: open, find the header, check every row
  (IDs, names, sexes, phones, duplicates), keep the members. No database.

The goal is check ≤ 1.6x the floor. Not a timed test; test_bench_smoke.py runs it small.

With --instructions it also counts both under valgrind (callgrind's Ir, on a roster of
--instruction-rows, default 20 000: valgrind runs ~50x slower): each is run in a child process
after the same warm-up, and a child that only warms up is the baseline subtracted. Unlike
seconds, instructions do not move with the machine's load (a 2-core machine shared with other
work gave 1.45x-2.0x in seconds within minutes); they do not see memory stalls.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from python_calamine import CalamineWorkbook

from services.enrollment.roster import read_roster
from services.kernel.registry import load_city
from tests.bench.bench_roster_import import CITY, YEAR, write_xlsx

GOAL = 1.6
TODAY = date(2025, 1, 1)


def floor(data: bytes, sheet: str) -> int:
    rows = 0
    for _cells in (
        CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(sheet).iter_rows()
    ):
        rows += 1
    return rows


def check(data: bytes, fmt) -> int:
    result = read_roster(data, "roster.xlsx", fmt, today=TODAY)
    if result.errors:
        raise RuntimeError(f"the generated roster has errors: {result.errors[:3]}")
    return len(result.members)


def best(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="people in the roster")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (the best)")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions under valgrind"
    )
    parser.add_argument("--instruction-rows", type=int, default=20_000)
    parser.add_argument("--only", choices=["warm", "floor", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    fmt = load_city(CITY).roster_format(YEAR)
    if args.only:  # a child counted under valgrind: warm up, then one run of what is asked
        data = Path(args.file).read_bytes()
        check(data, fmt)
        {
            "warm": lambda: None,
            "floor": lambda: floor(data, fmt.sheet),
            "check": lambda: check(data, fmt),
        }[args.only]()
        return 0
    with tempfile.TemporaryDirectory() as work:
        data = write_xlsx(Path(work) / "roster.xlsx", fmt, args.rows).read_bytes()
    check(data, fmt)  # warm: the first name check imports the models for their lengths
    floor_s = check_s = float("inf")
    for _ in range(args.repeat):
        floor_s = min(floor_s, best(lambda: floor(data, fmt.sheet), 1))
        check_s = min(check_s, best(lambda: check(data, fmt), 1))
    ratio = check_s / floor_s
    print(f"{'step':<8}{'rows':>8}{'seconds':>10}{'rows/s':>12}  check/floor")
    print(f"{'floor':<8}{args.rows:>8}{floor_s:>10.3f}{args.rows / floor_s:>12,.0f}")
    verdict = "ok" if ratio <= GOAL else "SLOW"
    print(
        f"{'check':<8}{args.rows:>8}{check_s:>10.3f}{args.rows / check_s:>12,.0f}"
        f"  {ratio:.2f}x (goal ≤ {GOAL}x) {verdict}"
    )
    if args.instructions:
        count_instructions(fmt, args.instruction_rows)
    return 0


def count_instructions(fmt, rows: int) -> None:
    from tests.bench.bench_cli_start import instructions

    with tempfile.TemporaryDirectory() as work:
        path = write_xlsx(Path(work) / "roster.xlsx", fmt, rows)
        child = [sys.executable, "-m", "tests.bench.bench_roster_check", "--file", str(path)]
        warm, floor_ir, check_ir = (
            instructions([*child, "--only", what]) for what in ("warm", "floor", "check")
        )
    floor_ir, check_ir = floor_ir - warm, check_ir - warm
    print(f"{'step':<8}{'rows':>8}{'instructions':>14}  check/floor")
    print(f"{'floor':<8}{rows:>8}{floor_ir / 1e6:>13.0f}M")
    print(f"{'check':<8}{rows:>8}{check_ir / 1e6:>13.0f}M  {check_ir / floor_ir:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
