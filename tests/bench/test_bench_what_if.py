"""The what-if benchmark still runs (tiny, SQLite); its figures are not checked, its total is
(the benchmark asserts what-if and the bare loop agree to the cent)."""

from __future__ import annotations

from tests.bench import bench_what_if


def test_the_benchmark_runs_on_a_few_claims(capsys):
    assert bench_what_if.main(["--claims", "300"]) == 0
    out = capsys.readouterr().out
    lines = [line.split()[:2] for line in out.splitlines()]
    assert ["what-if", "300"] in lines and ["floor", "300"] in lines
    assert "claims/s" in out
