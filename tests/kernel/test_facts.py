"""Claim facts, history and units from plain data: misspelt or malformed is an error, never dropped."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.kernel.errors import FactError
from services.kernel.facts import FACT_NAMES, load_claim, load_history, load_unit
from services.kernel.policy import HistoryEntry


def claim(**facts):
    return {"benefit": "general_illness", **facts}


def test_facts_load_into_typed_values():
    facts = load_claim(
        claim(
            total_cost="7,000.50",
            admission_date="2024-03-01",
            liability_share="0.4",
            settled_by_insurance=False,
            exclusion=["fraud"],
        )
    )
    assert facts.total_cost == Decimal("7000.50")
    assert facts.admission_date == date(2024, 3, 1)
    assert facts.liability_share == Decimal("0.4")
    assert facts.settled_by_insurance is False
    assert facts.exclusion == ("fraud",)


def test_defaults_of_unset_facts():
    facts = load_claim(claim())
    assert facts.total_cost is None
    assert facts.settled_by_insurance is True
    assert (facts.cause, facts.patient, facts.place) == ("illness", "member", "mainland")
    assert facts.exclusion == ()


@pytest.mark.parametrize("name", ["total_cots", "admision_date", "Total_cost", "amount"])
def test_an_unknown_fact_is_an_error_naming_it(name):
    with pytest.raises(FactError) as raised:
        load_claim(claim(total_cost="7000", **{name: "1"}))
    assert name in str(raised.value)
    assert "拼写" in str(raised.value)


def test_every_problem_is_named_on_one_line():
    with pytest.raises(FactError) as raised:
        load_claim(claim(total_cots="7000", grade=11))
    message = str(raised.value)
    assert "total_cots" in message and "grade" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("fact", "value"),
    [
        ("total_cost", 7000.0),  # a float has lost the fen
        ("total_cost", "abc"),
        ("total_cost", "-1"),
        ("settled_amount", "1e400"),  # stored once, then a 500 at submit (issue 8.5)
        ("total_cost", "9999999999999.99"),  # beyond money.MAX_AMOUNT
        ("total_cost", "NaN"),
        ("total_cost", "Infinity"),
        ("total_cost", "12.345"),  # a third decimal place is no amount of yuan
        ("liability_share", "1e-400"),
        ("disease", "癌\x00"),
        ("loss_amount", 0.5),
        ("admission_date", "2024-02-30"),
        ("admission_date", "01/03/2024"),
        ("grade", 11),
        ("grade", 0),
        ("grade", "11"),
        ("grade", "XI"),
        ("grade", True),
        ("grade", 2.5),
        ("liability_share", "1.5"),
        ("liability_share", "-0.1"),
        ("settled_by_insurance", "no"),
        ("settled_by_insurance", 0),
        ("cause", "war"),
        ("liability", "partial"),
        ("place", "europe"),
        ("patient", "spouse"),
        ("exclusion", "fraud"),
    ],
)
def test_a_malformed_value_is_an_error_naming_the_fact(fact, value):
    with pytest.raises(FactError) as raised:
        load_claim(claim(**{fact: value}))
    assert fact in str(raised.value)


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        ("III", 3),
        ("iii", 3),
        ("X", 10),
        ("I", 1),
        (3, 3),
        ("7", 7),
        ("death", "death"),
        (" Death ", "death"),
    ],
)
def test_grade_reads_numbers_roman_numerals_and_death(value, grade):
    assert load_claim(claim(grade=value)).grade == grade


@pytest.mark.parametrize("data", [None, [], "general_illness", {}, {"benefit": ""}])
def test_a_claim_without_a_benefit_is_refused(data):
    with pytest.raises(FactError):
        load_claim(data)


def test_fact_names_are_the_design_vocabulary():
    design = set(
        "benefit total_cost self_borne settled_by_insurance cause liability liability_share grade "
        "disease patient patient_birth_date admission_date discharge_date diagnosis_date "
        "event_date claim_date place loss_amount exclusion".split()
    )
    assert design <= set(FACT_NAMES)
    assert set(FACT_NAMES) - design == {"settled_amount"}  # README: added for Quzhou


def test_history_loads_with_counted_defaulting_to_zero():
    history = load_history([{"benefit": "critical_illness", "payable": "12000.00"}])
    assert history == (HistoryEntry("critical_illness", Decimal("12000.00"), Decimal("0")),)
    assert load_history(None) == ()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([{"benefit": "x"}], "payable"),
        ([{"benefit": "x", "payable": 500.0}], "payable"),
        ([{"benefit": "x", "payable": "1", "paid": "1"}], "paid"),
        ("general_illness", "history"),
        ({"benefit": "x", "payable": "1"}, "history"),  # one entry, not a list
    ],
)
def test_malformed_history_is_an_error(data, needle):
    with pytest.raises(FactError) as raised:
        load_history(data)
    assert needle in str(raised.value)


def test_unit_participants_must_be_an_integer():
    assert load_unit({"name": "某单位", "participants": 51, "staff_total": 60}).participants == 51
    with pytest.raises(FactError, match="participants"):
        load_unit({"name": "某单位", "participants": "51"})
    with pytest.raises(FactError, match="staff_totl"):
        load_unit({"name": "某单位", "participants": 51, "staff_totl": 60})
