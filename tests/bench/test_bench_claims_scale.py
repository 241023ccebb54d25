"""The claims scale benchmark still runs (tiny): real `mutual-aid run claims` processes on
RabbitMQ and PostgreSQL; every claim approved exactly once. Its speed is not checked."""

from __future__ import annotations

import pytest

from tests.bench import bench_claims_scale


@pytest.mark.rabbit
@pytest.mark.postgres
def test_two_processes_on_one_queue_approve_each_claim_once(capsys):
    assert bench_claims_scale.main(["--claims", "12", "--processes", "2"]) == 0
    out = capsys.readouterr().out
    (row,) = [line.split() for line in out.splitlines() if line.lstrip().startswith("2 ")]
    processes, claims, _, _, approved, consumers, once = row[:7]
    assert (processes, claims, approved, consumers, once) == ("2", "12", "12", "2", "yes")
