"""柯桥 Keqiao (绍兴市柯桥区): the district union's workers' medical mutual aid.

Numbers: data/<year>.yaml (2019 = seed 002, the district union's targets notice). The notice
sets enrolment and claim targets per sub-union and the KPI behind them (kpi.py), and implies
the premium; it gives no benefit rates, so the benefits come from a separate schedule file
(``benefit_schedule``) that the kernel loads when it exists and names when it does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from services.kernel.plugin import DataPolicy

if TYPE_CHECKING:
    from mutual_aid_keqiao.kpi import KpiRow, KpiRule

# kpi.py (its marshmallow schema) is imported by the methods that use it: listing the cities
# imports every plugin's package and must not pay for it (issue 14, CLI start)


class Keqiao(DataPolicy):
    code = "keqiao"
    name = "绍兴市柯桥区"

    def kpi_rule(self, year: int) -> KpiRule:
        """The year's ``extra.kpi``, checked against its targets."""
        from mutual_aid_keqiao import kpi

        return kpi.load_rule(self.year_data(year))

    def validate(self) -> None:
        super().validate()
        for year in self.years():
            self.kpi_rule(year)

    def kpi_report(self, year: int, actuals: Mapping[tuple[str, str], object]) -> list[KpiRow]:
        """Each sub-union's enrolment, claim KPI and points lost, from recorded actuals.

        ``actuals`` is keyed by (organisation, kind) as ``evaluate_targets`` takes it; an
        organisation may be named by its code, name or alias; what is not given counts 0.
        """
        from mutual_aid_keqiao import kpi
        from mutual_aid_keqiao.kpi import ActualsError

        rule = self.kpi_rule(year)
        canonical: dict[tuple[str, str], object] = {}
        for (organisation, kind), value in actuals.items():
            found = self.district(year, organisation)
            if found is None:
                raise ActualsError(f"{self.name} {year} 年没有单位 {organisation!r}")
            key = (found.name, kind)
            if key in canonical:
                raise ActualsError(
                    f"{found.name} 的{kpi.KIND_LABELS.get(kind, kind)}给了两次（{organisation!r}）"
                )
            canonical[key] = kpi.check_actual(found.name, kind, value)
        return kpi.rows(rule, self.evaluate_targets(year, canonical))


plugin = Keqiao(package=__name__)
