"""The callback load run still runs (tiny, SQLite); its checks must hold, its figures are not
checked (2 shared cores)."""

from __future__ import annotations

from tests.bench import bench_callbacks


def test_the_callback_load_run_applies_each_good_one_once_on_a_small_run(capsys):
    assert bench_callbacks.main(["--callbacks", "100", "--concurrency", "4"]) == 0
    out = capsys.readouterr().out
    assert "bare hmac" in out and "payments" in out and "callbacks/s" in out
    assert "FAIL" not in out
    assert out.count("ok   ") == 8
