"""衢州 Quzhou: the city union's workers' medical mutual aid (职工医疗互助保障), with Jiangshan.

Numbers: data/<year>.yaml — 2025 = 第十二期 (seed 000, eight district blocks, each with its
account and its part of the preferential list); 2020 = the Jiangshan 江山 variant (seed 001:
the one block 江山, its own preferential list and the non-public-enterprise subsidy).
Formulas: the generic kinds (``settled`` for direct settlement at the hospital) and the rule
that makes a unit preferential (preferential.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from services.kernel.errors import FactError
from services.kernel.fees import normalise_name
from services.kernel.hooks import UnitYearStats
from services.kernel.plugin import DataPolicy

if TYPE_CHECKING:
    from mutual_aid_quzhou.preferential import PreferentialRule

# preferential.py is imported where the rule is read: listing the
# cities imports every plugin's package and must not pay for it (issue 14, CLI start)


class Quzhou(DataPolicy):
    code = "quzhou"
    name = "衢州市"

    def validate(self) -> None:
        from mutual_aid_quzhou.preferential import preferential_rule

        super().validate()
        for year in self.years():
            if self.year_data(year).preferential_rule:
                preferential_rule(self.year_data(year))

    def preferential_rule(self, year: int) -> PreferentialRule:
        from mutual_aid_quzhou.preferential import preferential_rule

        return preferential_rule(self.year_data(year))

    def preferential_basis_year(self, year: int) -> int:
        """The year whose records decide ``year``'s preferential list (2025 → 2023)."""
        return year - self.preferential_rule(year).lookback_years

    def preferential_candidates(
        self, year: int, stats: Iterable[UnitYearStats]
    ) -> list[UnitYearStats]:
        """The units that qualify for ``year``'s discounted price, from the look-back year's records.

        Every record must be for the look-back year and name a block of ``year``; the ones
        that qualify come back in the order given, their district made the block's code, ready
        to go under that block in the year file. ``year`` needs its year file (with
        fee.preferential_rule) first: a year without one is refused by name.
        """
        rule = self.preferential_rule(year)
        basis = year - rule.lookback_years
        chosen: list[UnitYearStats] = []
        codes: dict[str, str] = {}
        for record in stats:
            if record.year != basis:
                raise FactError(
                    f"{record.unit}: 统计年度是 {record.year}，{year} 年度的优惠名单应依据 {basis} 年度的数据"
                )
            block = self.district(year, record.district)
            if record.code is not None:
                key = normalise_name(record.code)
                if key in codes:
                    raise FactError(
                        f"编码 {record.code} 出现两次（{codes[key]}、{record.unit}）；一个编码为一个单位，请先合并统计"
                    )
                codes[key] = record.unit
            if rule.qualifies(record):
                chosen.append(replace(record, district=block.code) if block else record)
        return chosen


plugin = Quzhou(package=__name__)


def __getattr__(name: str):
    if name == "PreferentialRule":  # exported, imported when asked (see above)
        from mutual_aid_quzhou.preferential import PreferentialRule

        return PreferentialRule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Quzhou", "UnitYearStats", "PreferentialRule", "plugin"]
