"""A plugin's seed-derived cases (``<package>/cases/<year>.yaml``): found, read and run.

The shared harness (tests/plugins/test_cases.py) and ``mutual-aid city check`` run the same
cases the same way. Each case names its input and the part of the answer it pins:

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.kernel.errors import PolicyError
from services.kernel.facts import load_claim, load_history, load_unit
from services.kernel.policy import CityPolicy, HistoryEntry

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


@dataclass(frozen=True)
class Case:
    year: int
    file: Path
    data: dict

    @property
    def name(self) -> str:
        return str(self.data.get("name", "（无名）"))

    def benefits(self) -> set[str]:
        """The benefits this case assesses (what "every benefit has a case" counts)."""
        if "assess" in self.data:
            claims = [self.data["assess"].get("claim") or {}]
        else:
            claims = self.data.get("assess_sequence") or []
        return {c["benefit"] for c in claims if isinstance(c, dict) and "benefit" in c}


def cases_dir(policy: CityPolicy) -> Path:
    return Path(inspect.getfile(type(policy))).parent / "cases"


def read_cases(policy: CityPolicy) -> Iterator[Case]:
    for path in sorted(cases_dir(policy).glob("*.yaml")):
        if not path.stem.isdigit():
            continue
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            yield Case(int(path.stem), path, entry)


def _subset(expected: Any, actual: Any, path: str = "") -> list[str]:
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


def _answer(policy: CityPolicy, year: int, case: dict):
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


def run_case(policy: CityPolicy, year: int, case: dict) -> list[str]:
    """What is wrong with the answer to ``case`` (empty: it passes)."""
    unknown = set(case) - KEYS
    if unknown:
        return [f"unknown case keys {', '.join(sorted(unknown))}"]
    if sum(k in case for k in ("assess", "assess_sequence", "quote")) != 1:
        return ["a case has exactly one of assess, assess_sequence, quote"]
    if "error" in case:
        try:
            _answer(policy, year, case)
        except PolicyError as exc:
            if case["error"] in str(exc):
                return []
            return [f"error {str(exc)!r} lacks {case['error']!r}"]
        return [f"expected an error containing {case['error']!r}, got an answer"]
    try:
        answer = _answer(policy, year, case)
    except PolicyError as exc:
        return [f"unexpected error: {exc}"]
    expected = case.get("expect", {})
    if isinstance(expected, list):
        if not isinstance(answer, list) or len(expected) != len(answer):
            return [f"expected {len(expected)} answers, got {len(answer)}"]
        problems = [p for e, a in zip(expected, answer, strict=True) for p in _subset(e, a)]
    else:
        problems = _subset(expected, answer)
    for needle in case.get("reasons_contain", []):
        reasons = " ".join(answer.get("reasons", []) + answer.get("violations", []))
        if needle not in reasons:
            problems.append(f"reasons lack {needle!r}: {reasons!r}")
    return problems
