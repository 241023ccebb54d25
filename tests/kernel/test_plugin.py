"""DataPolicy's shared eligibility checks where a date is needed and the claim gives none."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.kernel.errors import FactError
from services.kernel.policy import ClaimFacts


@pytest.fixture
def without_counts_by(year_dir):
    """Zhangjiakou's 2024 data with the child benefit counted by no date of its own."""

    def edit(data):
        rule = next(b for b in data["benefits"] if b["code"] == "child_critical_illness")
        del rule["counts_by"]

    year_dir.write(edit)
    return year_dir.policy()


def child_claim(**dates) -> ClaimFacts:
    return ClaimFacts(
        benefit="child_critical_illness",
        patient="child",
        patient_birth_date=date(2006, 6, 1),
        total_cost=Decimal("40000"),
        disease="白血病",
        **dates,
    )


def test_a_childs_age_without_an_admission_date_is_taken_on_the_claim_date(without_counts_by):
    """The claims service sets claim_date to the day it received the claim (its clock), so
    the child turning 18 on 2024-06-01 decides, not the day the assessment runs."""
    before = without_counts_by.assess(2024, child_claim(claim_date=date(2024, 5, 31)))
    assert not before.refused and before.payable == Decimal("2000.00")
    on = without_counts_by.assess(2024, child_claim(claim_date=date(2024, 6, 1)))
    assert on.refused
    assert any("2024-06-01 已满 18 周岁" in reason for reason in on.reasons)


def test_the_admission_date_comes_first(without_counts_by):
    both = child_claim(admission_date=date(2024, 5, 1), claim_date=date(2024, 6, 1))
    assert not without_counts_by.assess(2024, both).refused


def test_without_any_date_the_facts_needed_are_named(without_counts_by):
    with pytest.raises(FactError, match="admission_date.*claim_date"):
        without_counts_by.assess(2024, child_claim())


@pytest.mark.parametrize(
    "name", ["mutual_aid_keqiao", "mutual_aid_quzhou", "mutual_aid_wujin", "services.kernel"]
)
def test_package_dir_is_what_importlib_resources_answers(name):
    """DataPolicy finds its data without importing importlib.resources (issue 14)."""
    import importlib
    import importlib.resources

    from services.kernel.plugin import package_dir

    importlib.import_module(name)
    assert package_dir(name) == Path(str(importlib.resources.files(name)))


def test_package_dir_of_a_module_that_is_no_package_is_refused_as_before():
    from services.kernel.plugin import package_dir

    with pytest.raises(TypeError):
        package_dir("services.kernel.plugin")
