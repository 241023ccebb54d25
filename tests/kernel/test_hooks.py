"""The optional city hooks: defaults for a city without them, kernel value types for those with
them, and no platform module reaching into a city's package (issue 13 point 4)."""

from __future__ import annotations

import ast
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from services.kernel.hooks import HOOKS, KpiRow, PayoutAdvice, UnitYearStats, hook
from services.kernel.registry import GROUP, load_registry

ROOT = Path(__file__).resolve().parents[2]


class Bare:
    """A city written from scratch, with none of the optional hooks."""

    code = "bare"
    name = "空白市"


def test_a_city_without_hooks_answers_the_defaults():
    bare = Bare()
    assert hook(bare, "preferential_basis_year")(2025) is None
    stats = [UnitYearStats(2023, "某单位", "市本级", 200, Decimal("100"), Decimal("0"))]
    assert hook(bare, "preferential_candidates")(2025, stats) == []
    assert hook(bare, "kpi_report")(2025, {}) == []
    assert hook(bare, "payout_failure_advice")(2025, "frozen_or_dormant") is None


def test_an_unknown_hook_name_is_refused():
    with pytest.raises(AttributeError, match="not a city hook"):
        hook(Bare(), "preferential_candidate")
    assert set(HOOKS) >= {"preferential_candidates", "kpi_report", "payout_failure_advice"}


def test_installed_cities_answer_hooks_with_kernel_types():
    registry = load_registry()
    zjk = registry.get("zhangjiakou")
    advice = hook(zjk, "payout_failure_advice")(2024, "frozen_or_dormant")
    assert isinstance(advice, PayoutAdvice)
    assert "张家口银行" in advice.advice and advice.source == "通知 三、6"
    assert hook(zjk, "payout_failure_advice")(2024, "name_mismatch") is None
    assert hook(zjk, "kpi_report")(2024, {}) == []  # Zhangjiakou has no KPI: the default

    rows = hook(registry.get("keqiao"), "kpi_report")(2019, {})
    assert rows and all(isinstance(r, KpiRow) for r in rows)
    assert hook(registry.get("quzhou"), "preferential_basis_year")(2025) == 2023


def _plugin_packages() -> set[str]:
    found = {p.name for p in (ROOT / "plugins").glob("*/mutual_aid_*") if p.is_dir()}
    found |= {ep.value.split(":")[0].split(".")[0] for ep in entry_points(group=GROUP)}
    return found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_platform_module_imports_a_plugin_package():
    # Outside plugins/ (and the tests of the plugins themselves): services/, scripts, conftest.
    packages = _plugin_packages()
    assert {"mutual_aid_quzhou", "mutual_aid_zhangjiakou"} <= packages
    offenders = [
        f"{path.relative_to(ROOT)} imports {', '.join(sorted(_imports(path) & packages))}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).parts[0] not in ("plugins", "tests", ".venv")
        and _imports(path) & packages
    ]
    assert not offenders, "\n".join(offenders)
