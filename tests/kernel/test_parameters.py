"""Year files: validated on load, every error naming the file and the key; no year guessed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.kernel.errors import PolicyDataError, UnknownYear
from services.kernel.facts import load_claim
from services.kernel.parameters import load_year

LABEL = "throwaway/data/2024.yaml"


def load_error(year_dir, edit) -> PolicyDataError:
    year_dir.write(edit)
    with pytest.raises(PolicyDataError) as raised:
        year_dir.policy().year_data(2024)
    return raised.value


def benefit(data: dict, code: str) -> dict:
    return next(b for b in data["benefits"] if b["code"] == code)


def test_an_unedited_copy_loads(year_dir):
    """The control for every test below: only the edit makes the copy fail."""
    year_dir.write()
    data = year_dir.policy().year_data(2024)
    assert data.file == LABEL
    assert data.price == Decimal("50")
    assert data.period.number == 17
    assert set(data.rules) >= {"general_illness", "accident_disability", "fire_loss"}
    year_dir.policy().validate()


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d.update(benefitz=[]), "benefitz"),
        (lambda d: d["fee"].update(discount="10"), "fee.discount"),
        (lambda d: d["account"].update(iban="x"), "account.iban"),
        (lambda d: d["period"].update(covers=[]), "period.covers"),
    ],
    ids=["top", "fee", "account", "period"],
)
def test_an_unknown_key_names_the_file_and_the_key(year_dir, edit, key):
    error = load_error(year_dir, edit)
    assert error.file == LABEL
    assert error.key == key
    assert str(error).startswith(f"{LABEL}: {key}: ")
    assert "不认识的键" in str(error)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["fee"].update(price=50.0), "fee.price"),
        (lambda d: d["participation"].update(min_share=0.85), "participation.min_share"),
    ],
)
def test_a_float_number_is_refused(year_dir, edit, key):
    error = load_error(year_dir, edit)
    assert (error.file, error.key) == (LABEL, key)
    assert "字符串" in str(error)


def test_a_year_that_disagrees_with_the_file_name(year_dir):
    error = load_error(year_dir, lambda d: d.update(year=2025))
    assert (error.file, error.key) == (LABEL, "year")
    assert "2024.yaml" in str(error) and "2025" in str(error)


@pytest.mark.parametrize(
    ("field", "value"),
    [("needs", ["total_costs"]), ("counts_by", "admision_date")],
)
def test_a_benefit_naming_an_unknown_fact(year_dir, field, value):
    error = load_error(year_dir, lambda d: benefit(d, "general_illness").update({field: value}))
    assert (error.file, error.key) == (LABEL, "benefits.general_illness")
    assert str(value if isinstance(value, str) else value[0]) in str(error)


def test_an_unknown_formula_kind(year_dir):
    error = load_error(year_dir, lambda d: benefit(d, "fire_loss").update(kind="percentage"))
    assert (error.file, error.key) == (LABEL, "benefits.fire_loss.kind")
    assert "percentage" in str(error)


def test_a_duplicate_benefit_code(year_dir):
    error = load_error(year_dir, lambda d: d["benefits"].append(dict(benefit(d, "fire_loss"))))
    assert (error.file, error.key) == (LABEL, "benefits.fire_loss")


def test_an_exclusion_naming_an_unknown_benefit(year_dir):
    def edit(d):
        d["exclusions"][1]["benefits"] = ["general_ilness"]

    error = load_error(year_dir, edit)
    assert error.file == LABEL
    assert error.key == f"exclusions.{year_dir.template['exclusions'][1]['code']}"
    assert "general_ilness" in str(error)


def test_a_missing_required_key(year_dir):
    error = load_error(year_dir, lambda d: d.pop("fee"))
    assert (error.file, error.key) == (LABEL, "fee")


def test_an_account_number_with_blanks(year_dir):
    error = load_error(year_dir, lambda d: d["account"].update(number="0412 0412 2930 0124 836"))
    assert (error.file, error.key) == (LABEL, "account.number")


def test_a_file_that_is_not_yaml(year_dir):
    (year_dir.path / "2024.yaml").write_text("year: [2024\n", encoding="utf-8")
    with pytest.raises(PolicyDataError) as raised:
        year_dir.policy().year_data(2024)
    assert "2024.yaml" in str(raised.value)
    assert "YAML" in str(raised.value)


def test_load_year_uses_the_label_it_is_given(year_dir):
    path = year_dir.write(lambda d: d["fee"].update(price=50.0))
    with pytest.raises(PolicyDataError, match=r"^somecity/data/2024\.yaml: fee\.price: "):
        load_year(path, "somecity/data/2024.yaml")


def test_an_unknown_year_names_the_known_years(year_dir):
    year_dir.write()
    year_dir.write(year=2025)
    policy = year_dir.policy()
    assert policy.years() == [2024, 2025]
    with pytest.raises(UnknownYear) as raised:
        policy.year_data(2023)
    message = str(raised.value)
    assert "2023" in message
    assert "2024、2025" in message


def test_no_year_falls_back_to_another(year_dir):
    year_dir.write()
    claim = load_claim(
        {"benefit": "general_illness", "total_cost": "7000", "admission_date": "2025-03-01"}
    )
    with pytest.raises(UnknownYear):
        year_dir.policy().assess(2025, claim)


def test_a_float_formula_parameter_is_refused_when_read(year_dir):
    year_dir.write(lambda d: benefit(d, "general_illness")["params"].update(rate=0.05))
    claim = load_claim(
        {"benefit": "general_illness", "total_cost": "7000", "admission_date": "2024-03-01"}
    )
    with pytest.raises(PolicyDataError) as raised:
        year_dir.policy().assess(2024, claim)
    assert (raised.value.file, raised.value.key) == (LABEL, "benefits.general_illness.params.rate")


def test_a_plugin_without_year_files_fails_validation(year_dir):
    with pytest.raises(PolicyDataError, match="没有任何年度数据文件"):
        year_dir.policy().validate()
