"""The roster import benchmark still runs (tiny, SQLite only); its figures are not checked."""

from __future__ import annotations

from tests.bench import bench_roster_import


def test_the_benchmark_runs_on_a_small_roster(capsys):
    assert bench_roster_import.main(["--rows", "500"]) == 0
    out = capsys.readouterr().out
    steps = [line.split()[:4] for line in out.splitlines() if line.startswith(("xlsx ", "xls "))]
    assert steps == [
        ["xlsx", "sqlite", "floor", "500"],
        ["xlsx", "sqlite", "import", "500"],
        ["xls", "sqlite", "floor", "500"],
        ["xls", "sqlite", "import", "500"],
    ]
    assert "memory against file size" in out


def test_the_sms_benchmark_runs_on_a_few_messages(capsys):
    from tests.bench import bench_sms

    assert bench_sms.main(["--messages", "50"]) == 0
    lines = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert lines == [["bare", "50"], ["sdk", "50"], ["service", "50"]]
