"""CLI start benchmark (issue 14): `mutual-aid cities` / `quote` / `assess`, beside `python -c pass`.

    .venv/bin/python -m tests.bench.bench_cli_start [--runs N] [--instructions]

A hyperfine-like loop in Python: each command runs N times (default 20) as a fresh process
through the installed console script's interpreter, and the median wall time is printed beside
the median of ``python -c pass`` measured in the same run (the floor: an interpreter starting
and stopping). The goal is 0.25 s for each command. Not a timed test; test_bench_smoke.py runs
it with two runs so it cannot rot.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL = 0.25
COMMANDS = {
    "cities": ["cities"],
    "quote": ["quote", "--city", "quzhou", "--year", "2025", "examples/quote-quzhou-2025.json"],
    "assess": ["assess", "--city", "wujin", "--year", "2024", "examples/assess-wujin-2024.json"],
}


# this checkout's code and plugin packages first (a worktree measures its own plugins, not the
# ones the venv was installed from)
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *sorted(str(p) for p in (ROOT / "plugins").iterdir() if p.is_dir())]
        + ([os.environ["PYTHONPATH"]] if "PYTHONPATH" in os.environ else [])
    ),
}


def run_seconds(argv: list[str], runs: int) -> list[float]:
    """Wall seconds of each run, sorted; CPU_SECONDS[argv] gets each run's user+sys seconds
    (on a loaded machine the wall time is mostly waiting for a core: the CPU time is not)."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, check=True, env=ENV)
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    CPU_SECONDS[tuple(argv)] = sorted(cpu)
    return sorted(times)


CPU_SECONDS: dict[tuple[str, ...], list[float]] = {}


def compile_code() -> None:
    """Byte-compile this checkout's code first, as pip does when it installs a package: with
    PYTHONDONTWRITEBYTECODE set (as on the shared machine) nothing else writes the .pyc files,
    and every run would compile every module again — the figure would measure the compiler."""
    import compileall

    for folder in ("services", "plugins"):
        compileall.compile_dir(ROOT / folder, quiet=2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (the median)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count each command's instructions once under valgrind (slow; the figure a "
        "loaded machine does not change)",
    )
    args = parser.parse_args(argv)
    compile_code()
    cli = [sys.executable, "-m", "services.cli"]
    bare = [sys.executable, "-c", "pass"]
    floors = run_seconds(bare, args.runs)
    floor = statistics.median(floors)
    floor_cpu = statistics.median(CPU_SECONDS[tuple(bare)])
    print(
        f"{'command':<10}{'median s':>10}{'min-max s':>14}{'cpu s':>8}{'floor s':>10}"
        f"{'over floor':>12}  goal"
    )
    spread = f"{floors[0]:.3f}-{floors[-1]:.3f}"
    print(f"{'python':<10}{floor:>10.3f}{spread:>14}{floor_cpu:>8.3f}{floor:>10.3f}{0:>12.3f}")
    for name, words in COMMANDS.items():
        times = run_seconds(cli + words, args.runs)
        took = statistics.median(times)
        cpu = statistics.median(CPU_SECONDS[tuple(cli + words)])
        verdict = "ok" if took <= GOAL else "SLOW"
        spread = f"{times[0]:.3f}-{times[-1]:.3f}"
        print(
            f"{name:<10}{took:>10.3f}{spread:>14}{cpu:>8.3f}{floor:>10.3f}{took - floor:>12.3f}"
            f"  ≤ {GOAL} s {verdict}"
        )
    if args.instructions:
        floor_ir = instructions(bare)
        print(f"\n{'command':<10}{'instructions':>14}{'over floor':>12}{'x floor':>9}")
        print(f"{'python':<10}{floor_ir / 1e6:>13.0f}M{0:>11.0f}M{1:>9.1f}")
        for name, words in COMMANDS.items():
            ir = instructions(cli + words)
            print(
                f"{name:<10}{ir / 1e6:>13.0f}M{(ir - floor_ir) / 1e6:>11.0f}M{ir / floor_ir:>9.1f}"
            )
    return 0


def instructions(argv: list[str]) -> int:
    """Instructions the command executes (valgrind's callgrind, Ir): unlike seconds, the same
    on a loaded machine and a quiet one."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
        env={**ENV, "PYTHONMALLOC": "malloc"},  # valgrind sees malloc, not pymalloc's arenas
    )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"valgrind said: {done.stderr[-500:]}")
    return int(match.group(1))


if __name__ == "__main__":
    sys.exit(main())
