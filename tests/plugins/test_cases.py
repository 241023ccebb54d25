"""Every installed plugin's seed-derived cases, run by one harness.

A plugin ships ``cases/<year>.yaml`` beside its package (a city written by an outsider, or
made by ``mutual-aid city new``, gets the same harness); the case format is described in
services/onboarding/cases.py, which ``mutual-aid city check`` runs too.
"""

from __future__ import annotations

import pytest

from services.kernel.registry import load_registry
from services.onboarding.cases import cases_dir, read_cases, run_case


def _cases():
    for installed in load_registry():
        for case in read_cases(installed.policy):
            yield pytest.param(
                installed.policy,
                case.year,
                case.data,
                id=f"{installed.code}-{case.year}-{case.name}",
            )


@pytest.mark.parametrize(("policy", "year", "case"), list(_cases()))
def test_case(policy, year, case):
    problems = run_case(policy, year, case)
    assert not problems, "\n".join(problems)


def test_a_wrong_expectation_fails_the_case():
    policy = load_registry().get("zhangjiakou")
    case = {
        "name": "general illness at the threshold, pinned wrong",
        "assess": {
            "claim": {
                "benefit": "general_illness",
                "total_cost": "7000",
                "admission_date": "2024-03-01",
            }
        },
        "expect": {"payable": "351.00"},
    }
    assert run_case(policy, 2024, case) == [".payable: expected '351.00', got '350.00'"]
    assert run_case(policy, 2024, {**case, "expect": {}, "error": "x"})


def test_every_plugin_ships_cases():
    for installed in load_registry():
        years = {int(p.stem) for p in cases_dir(installed.policy).glob("*.yaml")}
        assert set(installed.policy.years()) <= years, f"{installed.code}: years without cases"
