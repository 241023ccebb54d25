"""``DataPolicy``: a city policy whose numbers are year files and whose formulas are kinds.

Most of a city is data; what a plugin writes in Python is its name, where its data lives
and any formula kind the generic ones cannot express. The checks every assessment makes —
a known benefit, the facts it needs, the date that counts inside cover, the claim deadline,
places, causes and reviewer exclusions — are made here once for every city.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from services.kernel import fees
from services.kernel.errors import (
    FactError,
    PolicyDataError,
    UnknownBenefit,
    UnknownDistrict,
    UnknownYear,
)
from services.kernel.formulas import FACT_LABELS, GENERIC_KINDS, Context, Formula
from services.kernel.hooks import CityHooks, PayoutAdvice
from services.kernel.money import ZERO, round_money
from services.kernel.parameters import YEAR_FILE, YearData, load_schedule, load_year, read_yaml
from services.kernel.periods import SchemePeriod
from services.kernel.policy import (
    Account,
    Assessment,
    Benefit,
    ClaimFacts,
    District,
    Exclusion,
    HistoryEntry,
    Quote,
    RosterFormat,
    RuleRef,
    SmsTemplates,
    Target,
    TargetResult,
    Unit,
)

PLACE_LABELS = {
    "abroad": "国外",
    "hong_kong": "香港",
    "macao": "澳门",
    "taiwan": "台湾",
    "mainland": "境内",
}
CAUSE_LABELS = {
    "illness": "疾病",
    "accident": "意外伤害",
    "traffic": "交通事故",
    "work_injury": "工伤",
    "occupational_disease": "职业病",
    "maternity": "生育",
    "fire": "火灾",
}


def package_dir(name: str) -> Path:
    """The directory of a package's files: beside its ``__init__.py`` when it is a plain
    package on disk (what importlib.resources.files answers then, without importing
    importlib.resources, tempfile and shutil: issue 14, CLI start); otherwise
    importlib.resources says (a zip, a namespace package) or refuses."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    if (
        spec is not None
        and spec.has_location
        and spec.submodule_search_locations is not None
        and os.path.basename(spec.origin or "").startswith("__init__.")
    ):
        return Path(spec.origin).parent
    import importlib.resources

    return Path(str(importlib.resources.files(name)))


class DataPolicy(CityHooks):
    """A city plugin reading ``<package>/data/<year>.yaml``; subclass to add formula kinds.

    The optional hooks (services/kernel/hooks.py) answer their defaults unless a city's data
    or its subclass says more.
    """

    code: str = ""
    name: str = ""
    kinds: Mapping[str, Formula] = {}

    def __init__(self, data_dir: Path | None = None, package: str | None = None):
        if data_dir is None:
            data_dir = package_dir(package or type(self).__module__) / "data"
        self.data_dir = Path(data_dir)
        self._years: dict[int, YearData] = {}

    # ---- data ------------------------------------------------------------------------

    def _label(self, filename: str) -> str:
        return f"{self.code}/data/{filename}"

    @functools.cached_property
    def _year_files(self) -> dict[int, Path]:
        files = {}
        if self.data_dir.is_dir():
            for path in self.data_dir.iterdir():
                match = YEAR_FILE.match(path.name)
                if match:
                    files[int(match.group(1))] = path
        return dict(sorted(files.items()))

    def years(self) -> list[int]:
        return list(self._year_files)

    def year_data(self, year: int) -> YearData:
        if year not in self._years:
            path = self._year_files.get(year)
            if path is None:
                known = "、".join(str(y) for y in self.years()) or "无"
                raise UnknownYear(
                    f"{self.code}（{self.name}）没有 {year} 年度的规则；已有年度: {known}"
                )
            data = load_year(path, self._label(path.name))
            if data.benefit_schedule:
                data = self._with_schedule(data)
            self._check_kinds(data)
            self._years[year] = data
        return self._years[year]

    def _with_schedule(self, data: YearData) -> YearData:
        """Benefits kept in a separate schedule file (Keqiao: its rates are not in the notice)."""
        path = self.data_dir / data.benefit_schedule
        if not path.exists():
            return data  # assess() names the missing file; the catalogue is simply empty
        rules, exclusions = load_schedule(path, self._label(data.benefit_schedule))
        return replace(data, rules=rules, exclusions=exclusions)

    def _check_kinds(self, data: YearData) -> None:
        for code, rule in data.rules.items():
            if rule.kind not in self._formulas():
                raise PolicyDataError(
                    data.file, f"benefits.{code}.kind", f"不认识的公式类型 {rule.kind}"
                )

    def _formulas(self) -> dict[str, Formula]:
        return {**GENERIC_KINDS, **self.kinds}

    def check_files(self) -> None:
        """What listing the cities can afford (issue 14, CLI start): every year file parses
        (libyaml) as a mapping whose ``year`` is its file name's, without validating the rest
        (``validate`` does, when the city is used); the registry reports a plugin that fails."""
        if not self.years():
            raise PolicyDataError(str(self.data_dir), None, "没有任何年度数据文件")
        for year, path in self._year_files.items():
            raw = read_yaml(path)
            if not isinstance(raw, dict):
                raise PolicyDataError(self._label(path.name), None, "应为一个映射（key: value）")
            if raw.get("year") != year:
                raise PolicyDataError(
                    self._label(path.name),
                    "year",
                    f"文件名是 {path.name}，但 year 写的是 {raw.get('year')}",
                )

    def validate(self) -> None:
        """Load every year file: the registry reports a plugin whose data is broken."""
        if not self.years():
            raise PolicyDataError(str(self.data_dir), None, "没有任何年度数据文件")
        for year in self.years():
            self.year_data(year)

    # ---- enrolment -------------------------------------------------------------------

    def period(self, year: int) -> SchemePeriod:
        return self.year_data(year).period

    def districts(self, year: int) -> list[District]:
        return list(self.year_data(year).districts)

    def roster_format(self, year: int) -> RosterFormat:
        return self.year_data(year).roster

    def district(self, year: int, name: str | None) -> District | None:
        data = self.year_data(year)
        if not data.districts:
            return None
        if name is None or not name.strip():
            if len(data.districts) == 1:
                return data.districts[0]
            if data.district_accounts:
                names = "、".join(d.code for d in data.districts)
                raise UnknownDistrict(f"{self.name} {year} 年按区块收款，请填写所属区块（{names}）")
            return None
        wanted = fees.normalise_name(name)
        for d in data.districts:
            if wanted in {fees.normalise_name(x) for x in (d.code, d.name, *d.aliases)}:
                return d
        names = "、".join(d.code for d in data.districts)
        raise UnknownDistrict(f"{self.name} {year} 年没有区块 {name!r}；已有: {names}")

    def account(self, year: int, district: str | None, unit_name: str = "") -> Account | None:
        data = self.year_data(year)
        found = self.district(year, district)
        account = data.district_accounts.get(found.code) if found else None
        account = account or data.account
        if account is not None and account.remark:
            account = replace(
                account, remark=account.remark.format(unit_name=unit_name or "（单位全称）")
            )
        return account

    def quote(self, year: int, unit: Unit) -> Quote:
        data = self.year_data(year)
        district = self.district(year, unit.district)
        account = self.account(year, district.code if district else None, unit.name)
        return fees.quote(data, district, account, unit)

    # ---- claims ----------------------------------------------------------------------

    def benefits(self, year: int) -> list[Benefit]:
        return [rule.benefit for rule in self.year_data(year).rules.values()]

    def exclusions(self, year: int) -> list[Exclusion]:
        return list(self.year_data(year).exclusions)

    def claim_deadline(self, year: int, claim: ClaimFacts | None = None) -> date | None:
        deadline = self.year_data(year).deadline
        if deadline is None:
            return None
        return date(year + deadline["years_after"], deadline["month"], deadline["day"])

    def _rule(self, data: YearData, code: str):
        if code in data.rules:
            return data.rules[code]
        if data.benefit_schedule and not (self.data_dir / data.benefit_schedule).exists():
            raise PolicyDataError(
                self._label(data.benefit_schedule),
                None,
                f"{self.name} {data.year} 年的待遇标准文件不存在；通知未给出补助标准，系统不会猜测费率，"
                "请按实施细则配置后再受理",
            )
        known = "、".join(data.rules) or "无"
        raise UnknownBenefit(f"{self.name} {data.year} 年没有待遇 {code!r}；已有: {known}")

    def assess(
        self, year: int, claim: ClaimFacts, history: Sequence[HistoryEntry] = ()
    ) -> Assessment:
        data = self.year_data(year)
        rule = self._rule(data, claim.benefit)
        benefit = rule.benefit
        missing = [f for f in benefit.needs if getattr(claim, f) is None]
        if missing:
            names = "、".join(f"{f}（{FACT_LABELS.get(f, f)}）" for f in missing)
            raise FactError(f"{benefit.code} 需要事实: {names}")
        known_flags = {e.code: e for e in data.exclusions}
        unknown = [f for f in claim.exclusion if f not in known_flags]
        if unknown:
            raise FactError(
                f"不认识的除外责任标记 {', '.join(unknown)}；{self.name} {year} 年有: {', '.join(known_flags) or '无'}"
            )
        ctx = Context(year=year, claim=claim, history=tuple(history), rule=rule, data=data)
        self._eligibility(ctx)
        outcome = None if ctx.reasons else self._formulas()[rule.kind](ctx)
        ref = RuleRef(
            f"{self.code}.{year}.{benefit.code}",
            year,
            f"{data.source}；{benefit.source}".strip("；"),
        )
        if ctx.reasons or outcome is None:
            return Assessment(
                benefit=benefit.code,
                payable=ZERO,
                counted=ZERO,
                rule=ref,
                explain=tuple(ctx.explain),
                refused=True,
                reasons=tuple(ctx.reasons) or ("不符合补助条件",),
            )
        payable, counted = outcome
        return Assessment(
            benefit=benefit.code,
            payable=round_money(payable),
            counted=round_money(counted),
            rule=ref,
            explain=tuple(ctx.explain),
            refused=False,
            recoverable=any(
                e.recover and e.applies(benefit.code, claim.cause) for e in data.exclusions
            ),
        )

    def _eligibility(self, ctx: Context) -> None:
        """The checks every benefit shares; each failure is a reason, all are reported."""
        claim, rule, data = ctx.claim, ctx.rule, ctx.data
        period = data.period
        if rule.benefit.counts_by:
            day = getattr(claim, rule.benefit.counts_by)
            label = FACT_LABELS.get(rule.benefit.counts_by, rule.benefit.counts_by)
            if day is None:
                raise FactError(f"{rule.benefit.code} 需要事实 {rule.benefit.counts_by}（{label}）")
            if not period.covers(day):
                ctx.refuse(
                    f"{label} {day.isoformat()} 不在 {data.year} 年度保障期"
                    f"（{period.cover_start.isoformat()} 至 {period.cover_end.isoformat()}）内"
                )
            else:
                ctx.step(f"{label} {day.isoformat()} 在保障期内")
        deadline = self.claim_deadline(data.year, claim)
        if deadline is not None and claim.claim_date is not None:
            if claim.claim_date > deadline:
                ctx.refuse(
                    f"申请日期 {claim.claim_date.isoformat()} 已超过受理期限 {deadline.isoformat()}，逾期不再受理"
                )
            else:
                ctx.step(f"在受理期限 {deadline.isoformat()} 之前申请")
        if claim.place in rule.excluded_places:
            ctx.refuse(f"在{PLACE_LABELS[claim.place]}就医发生的费用不予补助")
        if claim.cause in rule.excluded_causes:
            ctx.refuse(f"{CAUSE_LABELS[claim.cause]}引起的费用属除外责任")
        flags = {e.code: e for e in data.exclusions}
        for code in claim.exclusion:
            exclusion = flags[code]
            if exclusion.applies(rule.benefit.code, claim.cause):
                ctx.refuse(f"除外责任: {exclusion.label}")
            else:
                ctx.step(f"除外责任标记「{exclusion.label}」不适用于{rule.benefit.name}")
        self._patient(ctx)
        self._disease(ctx)
        if rule.params.get("no_cost") and claim.total_cost:
            ctx.refuse(f"{rule.benefit.name}只适用于未发生住院治疗费用的情形")

    def _patient(self, ctx: Context) -> None:
        wanted = ctx.rule.params.get("patient", "member")
        if ctx.claim.patient != wanted:
            who = {"member": "职工本人", "child": "职工子女"}
            ctx.refuse(f"{ctx.rule.benefit.name}只适用于{who[wanted]}")
            return
        under = ctx.rule.params.get("patient_under_age")
        if under is None:
            return
        born = ctx.claim.patient_birth_date
        if born is None:
            raise FactError(f"{ctx.code} 需要事实 patient_birth_date（子女出生日期）")
        # The age on the day the benefit counts by (else admission), else on the claim date:
        # a fact of the claim (the claims service sets it to the day received, from its
        # clock), so an assessment reads the same whenever it is repeated.
        day = getattr(ctx.claim, ctx.rule.benefit.counts_by or "admission_date") or (
            ctx.claim.claim_date
        )
        if day is None:
            raise FactError(
                f"{ctx.code} 需要事实 admission_date（入院日期）或 claim_date（申请日期），"
                "以计算子女年龄"
            )
        age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        if age >= under:
            ctx.refuse(
                f"子女于 {day.isoformat()} 已满 {age} 周岁，此项只适用于未满 {under} 周岁的子女"
            )
        else:
            ctx.step(f"子女于 {day.isoformat()} {age} 周岁，未满 {under} 周岁")

    def _disease(self, ctx: Context) -> None:
        if "diseases" not in ctx.rule.params:
            return
        listed = ctx.rule.params["diseases"]
        disease = ctx.claim.disease
        if disease is None:
            example = f"，如 {listed[0]}" if listed else ""
            raise FactError(f"{ctx.code} 需要事实 disease（病种{example}）")
        if listed is None:
            # The notice names no list (Wujin 五、2): the claim is assessed, and whether the
            # disease qualifies is decided where the notice says — the year file's
            # ``disease_review`` (Wujin: the quarterly review, 八、(二) 2).
            review = ctx.rule.params.get("disease_review") or "病种由审核人员按通知确认"
            ctx.step(f"{disease}：未配置病种名单，{review}")
            return
        if disease not in listed:
            ctx.refuse(f"{disease} 不在规定的 {len(listed)} 种重大疾病内")
        else:
            ctx.step(f"{disease} 属规定的重大疾病")

    # ---- SMS -------------------------------------------------------------------------

    def sms_templates(self, year: int) -> SmsTemplates | None:
        """The city's SMS texts from data/sms.yaml (one file for every year: a signature and
        its texts outlive a scheme year); None without it. Checked by services/notify."""
        path = self.data_dir / "sms.yaml"
        if not path.exists():
            return None
        raw = read_yaml(path)
        label = self._label(path.name)
        if not isinstance(raw, dict):
            raise PolicyDataError(label, None, "应为 signature、templates 等键的映射")
        for key in ("signature", "templates"):
            if key not in raw:
                raise PolicyDataError(label, key, "缺少此项")
        return SmsTemplates(
            file=label,
            signature=str(raw["signature"]),
            templates=raw["templates"] or {},
            advice=raw.get("payout_advice") or {},
        )

    # ---- payouts ---------------------------------------------------------------------

    def payout_failure_advice(self, year: int, reason: str) -> PayoutAdvice | None:
        return self.year_data(year).payout_advice.get(reason)

    # ---- targets ---------------------------------------------------------------------

    def targets(self, year: int) -> list[Target]:
        return list(self.year_data(year).targets)

    def evaluate_targets(
        self, year: int, actuals: Mapping[tuple[str, str], Decimal]
    ) -> list[TargetResult]:
        """Compare recorded actuals, keyed by (organisation, kind), with the targets."""
        results = []
        for target in self.targets(year):
            actual = Decimal(actuals.get((target.organisation, target.kind), 0))
            results.append(TargetResult(target, actual, actual >= target.figure))
        return results
