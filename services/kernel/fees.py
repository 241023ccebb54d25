"""The fee quote for a group application: price, discounts, subsidies, shares, account.

One formula for every city; the numbers come from the year file (POLICIES.md):
gross = unit_price × participants; subsidy = (union subsidy per person + non-public band
per person) × participants; the unit transfers gross − subsidy (Jiangshan's subsidy is
deducted; Wujin's district 80 yuan is the union's share and the members pay 20).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from services.kernel.formulas import pct, yuan
from services.kernel.money import ZERO, round_money
from services.kernel.parameters import YearData
from services.kernel.policy import Account, District, Quote, Unit

_BLANKS = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """Unit names compare without blanks and with full-width brackets made half-width."""
    return _BLANKS.sub("", unicodedata.normalize("NFKC", name))


def is_preferential(data: YearData, district: District | None, unit: Unit) -> bool:
    name = normalise_name(unit.name)
    lists = (
        [data.preferential_units.get(district.code, ())]
        if district is not None
        else list(data.preferential_units.values())
    )
    return any(name == normalise_name(listed) for names in lists for listed in names)


def subsidy_per_person(
    data: YearData, district: District | None, unit: Unit
) -> tuple[Decimal, list[str]]:
    notes = []
    per_person = data.union_subsidy_per_person
    if per_person:
        notes.append(f"工会补助 {yuan(per_person)} 元/人")
    if unit.nature == "non_public" and district is not None:
        for band in data.non_public_subsidy.get(district.code, ()):
            if unit.participants >= band["min"] and (
                band["max"] is None or unit.participants <= band["max"]
            ):
                upper = f"{band['max']}人" if band["max"] is not None else "以上"
                notes.append(
                    f"非公企业参保 {unit.participants} 人（{band['min']}-{upper}档）补助 {yuan(band['per_person'])} 元/人"
                )
                per_person += band["per_person"]
                break
    return per_person, notes


def participation(data: YearData, unit: Unit) -> tuple[Decimal | None, list[str], list[str]]:
    """(rate in percent, violations, explain) under the year's participation rule."""
    rule = data.participation
    violations: list[str] = []
    explain: list[str] = []
    if unit.participants < 1:
        violations.append("参保人数至少为 1")
    base_name = rule["base"] if rule else None
    base = getattr(unit, base_name) if base_name else (unit.staff_insured or unit.staff_total)
    rate = None
    if base:
        rate = round_money(Decimal(unit.participants) * 100 / Decimal(base))
    if rule is None:
        return rate, violations, explain
    label = {"staff_total": "在职职工总人数", "staff_insured": "参加职工医保人数"}[base_name]
    if base is None:
        violations.append(f"请填写{label}，用于计算参保比例")
        return rate, violations, explain
    if unit.participants > base:
        violations.append(f"参保人数 {unit.participants} 超过{label} {base}")
        return rate, violations, explain
    size = unit.staff_total if unit.staff_total is not None else base
    small = rule["all_required_up_to"]
    if size <= small:
        explain.append(f"在职职工 {size} 人，{small} 人及以下的单位须全体参加")
        if unit.participants < base:
            violations.append(
                f"在职职工 {size} 人的单位须全体参加：应参保 {base} 人，申请 {unit.participants} 人"
            )
        return rate, violations, explain
    share = rule["min_share"]
    explain.append(f"参保比例 {unit.participants}/{base} = {rate}%，最低要求 {pct(share)}")
    if Decimal(unit.participants) < share * base:
        violations.append(
            f"参保比例 {rate}% 低于 {pct(share)}：{label} {base} 人，至少应参保 "
            f"{_ceil(share * base)} 人，申请 {unit.participants} 人"
        )
    return rate, violations, explain


def _ceil(value: Decimal) -> int:
    whole = int(value)
    return whole if whole == value else whole + 1


def quote(data: YearData, district: District | None, account: Account | None, unit: Unit) -> Quote:
    explain: list[str] = []
    warnings: list[str] = []
    rate, violations, notes = participation(data, unit)
    explain += notes
    price = data.price
    unit_price = price
    if data.preferential_price is not None and is_preferential(data, district, unit):
        unit_price = data.preferential_price
        explain.append(f"在优惠单位名单内: {yuan(price)} → {yuan(unit_price)} 元/人")
    else:
        explain.append(f"互助金标准 {yuan(price)} 元/人")
    n = Decimal(unit.participants)
    gross = unit_price * n
    per_person, notes = subsidy_per_person(data, district, unit)
    explain += notes
    subsidy = per_person * n
    member_share = gross - subsidy
    explain.append(f"应缴 {yuan(unit_price)} × {unit.participants} = {yuan(gross)} 元")
    if subsidy:
        explain.append(
            f"补助 {yuan(per_person)} × {unit.participants} = {yuan(subsidy)} 元，单位转账 {yuan(member_share)} 元"
        )
    if account is None:
        warnings.append("通知未给出收款账户，请向发文的工会确认后再转账")
    return Quote(
        price=price,
        unit_price=unit_price,
        participants=unit.participants,
        subsidy=round_money(subsidy),
        union_share=round_money(subsidy),
        member_share=round_money(member_share),
        total_due=round_money(member_share if member_share > 0 else ZERO),
        participation_rate=rate,
        account=account,
        ok=not violations,
        violations=tuple(violations),
        warnings=tuple(warnings),
        explain=tuple(explain),
        district=district.code if district else None,
    )
