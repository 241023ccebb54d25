"""`city what-if`: a year of Zhangjiakou claims under a draft with the critical-illness rate
at 12% instead of 10% reports the exact difference computed here independently (issue 13,
done-when), on SQLite and PostgreSQL; the draft made by `new-year` for the next year moves
the claims' dates with it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from services.onboarding.newyear import next_year_text
from tests.onboarding.claim_year import critical_amounts, granted_2024, make_rows, write_claims

ZJK_2024 = Path("plugins/zhangjiakou/mutual_aid_zhangjiakou/data/2024.yaml")


def draft_file(root, tmp_path, next_year: bool) -> Path:
    text = (root / ZJK_2024).read_text(encoding="utf-8")
    old = 'rate: "0.10"               # 补助医疗费总额的10%'
    assert text.count(old) == 1
    text = text.replace(old, 'rate: "0.12"')
    year = 2024
    if next_year:
        text, _ = next_year_text(text, 2024, 2025)
        year = 2025
    path = tmp_path / f"draft-{year}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def claims_db(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/claims.sqlite"
    return request.getfixturevalue("fresh_postgres")


@pytest.mark.parametrize("next_year", [False, True], ids=["draft-2024", "draft-2025"])
def test_a_higher_critical_illness_rate_reports_the_exact_difference(
    mutual_aid, root, tmp_path, claims_db, next_year
):
    rows = make_rows(1500)
    write_claims(claims_db, rows)
    then = sum(granted_2024(rows), Decimal(0))
    critical_then = critical_amounts(rows, Decimal("0.10"))
    critical_draft = critical_amounts(rows, Decimal("0.12"))
    assert critical_draft > critical_then  # the test is about something

    run = mutual_aid(
        "city", "what-if", "zhangjiakou", "--year", "2024",
        "--rules", str(draft_file(root, tmp_path, next_year)), "--claims-db", claims_db,
    )  # fmt: skip
    report = run.json()

    by = {line["benefit"]: line for line in report["by_benefit"]}
    critical = by["critical_illness"]
    assert critical["claims"] == sum(r.benefit == "critical_illness" for r in rows)
    assert Decimal(critical["paid_then"]) == critical_then
    assert Decimal(critical["paid_draft"]) == critical_draft
    assert Decimal(critical["difference"]) == critical_draft - critical_then
    assert Decimal(by["general_illness"]["difference"]) == 0
    assert critical["errors"] == by["general_illness"]["errors"] == 0
    total = report["total"]
    assert total["claims"] == len(rows)  # the draft claim left out
    assert Decimal(total["paid_then"]) == then
    assert Decimal(total["difference"]) == critical_draft - critical_then
    assert report["draft_year"] == (2025 if next_year else 2024)


def test_a_broken_draft_is_one_line(mutual_aid, tmp_path):
    draft = tmp_path / "2025.yaml"
    draft.write_text("year: 2025\nsource: x\n", encoding="utf-8")
    run = mutual_aid(
        "city", "what-if", "zhangjiakou", "--year", "2024", "--rules", str(draft),
        "--claims-db", f"sqlite:///{tmp_path}/none.sqlite",
    )  # fmt: skip
    assert run.code == 2 and run.stderr.count("\n") == 1 and "period" in run.stderr
    assert json.loads(json.dumps(run.stdout)) == ""
