"""The roster import benchmark still runs (tiny, SQLite only); its figures are not checked."""

from __future__ import annotations

import pytest

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


def test_the_cli_start_benchmark_runs(capsys):
    from tests.bench import bench_cli_start

    assert bench_cli_start.main(["--runs", "1"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == ["python", "cities", "quote", "assess"]


def test_the_roster_check_benchmark_runs(capsys):
    from tests.bench import bench_roster_check

    assert bench_roster_check.main(["--rows", "200", "--repeat", "1"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["floor", "200"], ["check", "200"]]


def test_the_assessment_benchmark_runs(capsys):
    from tests.bench import bench_assess

    assert bench_assess.main(["--claims", "50"]) == 0
    out = capsys.readouterr().out
    assert {"wujin", "zhangjiakou"} <= {line.split()[0] for line in out.splitlines() if line}
    assert [line.split()[0] for line in out.split("\n\n")[1].splitlines()[1:]] == [
        "fixed",
        "banded",
    ]


@pytest.mark.postgres
def test_the_approvals_benchmark_runs(capsys):
    from tests.bench import bench_approvals
    from tests.conftest import ADMIN_URL

    assert bench_approvals.main(["--postgres", ADMIN_URL, "--claims", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    # four eyes (issue 9) reads who submitted from the claim row approve locks anyway
    assert [(line.split()[0], line.split()[3]) for line in lines] == [
        ("before", "12.0"),
        ("now", "9.0"),
    ]


@pytest.mark.postgres
def test_the_relay_benchmark_runs(capsys):
    from tests.bench import bench_relay
    from tests.conftest import ADMIN_URL

    assert bench_relay.main(["--postgres", ADMIN_URL, "--events", "5", "--history", "10,20"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[:2] for line in lines] == [["10", "5"], ["20", "5"]]


def test_the_sms_benchmark_runs_on_a_few_messages(capsys):
    from tests.bench import bench_sms

    assert bench_sms.main(["--messages", "50"]) == 0
    lines = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert lines == [["bare", "50"], ["sdk", "50"], ["service", "50"]]
