"""Every installed plugin's seed-derived cases, run by one harness.

A plugin ships ``cases/<year>.yaml`` beside its package (a city written by an outsider gets
the same harness). Each case names its input and the part of the answer it pins:

    - name: general illness at the threshold
      source: 第八条第3款
      assess: {claim: {...}, history: [...]}     # or quote: {unit: {...}}
      expect: {payable: "350.00", refused: false} # a subset of the JSON answer
      reasons_contain: [起付标准]                  # optional, substrings of the reasons
    - name: three critical-illness claims, one cumulative cap
      assess_sequence: [{claim}, {claim}, {claim}] # each paid claim joins the history
      expect: [{payable: "12000.00"}, ...]
    - name: a misspelt fact
      assess: {claim: {...}}
      error: 不认识的事实                          # a PolicyError whose message contains it
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from services.kernel.errors import PolicyError
from services.kernel.facts import load_claim, load_history, load_unit
from services.kernel.policy import HistoryEntry
from services.kernel.registry import load_registry

KEYS = {
    "name",
    "source",
    "assess",
    "assess_sequence",
    "quote",
    "expect",
    "reasons_contain",
    "error",
}


def _cases():
    for installed in load_registry():
        cases_dir = Path(inspect.getfile(type(installed.policy))).parent / "cases"
        for path in sorted(cases_dir.glob("*.yaml")):
            for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
                yield pytest.param(
                    installed.policy,
                    int(path.stem),
                    case,
                    id=f"{installed.code}-{path.stem}-{case['name']}",
                )


def _subset(expected, actual, path="") -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += _subset(value, actual[key], f"{path}.{key}")
        return problems
    if expected != actual:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def _run(policy, year, case):
    if "quote" in case:
        return policy.quote(year, load_unit(case["quote"]["unit"])).to_dict()
    if "assess" in case:
        data = case["assess"]
        return policy.assess(
            year, load_claim(data["claim"]), load_history(data.get("history"))
        ).to_dict()
    history: list[HistoryEntry] = []
    answers = []
    for claim in case["assess_sequence"]:
        result = policy.assess(year, load_claim(claim), tuple(history))
        answers.append(result.to_dict())
        if not result.refused:
            history.append(HistoryEntry(result.benefit, result.payable, result.counted))
    return answers


@pytest.mark.parametrize(("policy", "year", "case"), list(_cases()))
def test_case(policy, year, case):
    assert set(case) <= KEYS, f"unknown case keys {set(case) - KEYS}"
    assert sum(k in case for k in ("assess", "assess_sequence", "quote")) == 1
    if "error" in case:
        with pytest.raises(PolicyError) as raised:
            _run(policy, year, case)
        assert case["error"] in str(raised.value)
        return
    answer = _run(policy, year, case)
    expected = case["expect"]
    if isinstance(expected, list):
        assert len(expected) == len(answer)
        problems = [p for e, a in zip(expected, answer, strict=True) for p in _subset(e, a)]
    else:
        problems = _subset(expected, answer)
    for needle in case.get("reasons_contain", []):
        reasons = " ".join(answer.get("reasons", []) + answer.get("violations", []))
        if needle not in reasons:
            problems.append(f"reasons lack {needle!r}: {reasons!r}")
    assert not problems, "\n".join(problems)


def test_every_plugin_ships_cases():
    for installed in load_registry():
        cases_dir = Path(inspect.getfile(type(installed.policy))).parent / "cases"
        years = {int(p.stem) for p in cases_dir.glob("*.yaml")}
        assert set(installed.policy.years()) <= years, f"{installed.code}: years without cases"
