"""Benefit formulas: the building blocks and the generic kinds a year file can name.

A benefit in a year file says ``kind: rate`` (or fixed, bands, grade_table, settled) and
gives its numbers under ``params``; a plugin may add kinds of its own for a rule no generic
kind expresses (Wujin's self-borne conversions, Zhangjiakou's grade steps). Each step writes
a line of ``explain`` so a reviewer sees why; a refusal writes its reason instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.kernel.errors import FactError, PolicyDataError
from services.kernel.money import ZERO, format_money, parse_money, round_money
from services.kernel.parameters import BenefitRule, YearData
from services.kernel.policy import ClaimFacts, HistoryEntry

_MISSING = object()

FACT_LABELS = {
    "total_cost": "医疗费总额",
    "self_borne": "个人自理金额",
    "loss_amount": "财产损失总额",
    "settled_amount": "医院结算的互助金额",
    "admission_date": "入院日期",
    "diagnosis_date": "确诊日期",
    "event_date": "事故（出险）日期",
    "discharge_date": "出院日期",
}


def pct(rate: Decimal) -> str:
    """0.05 -> 5%, 0.545 -> 54.5%."""
    text = format(rate * 100, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


@functools.lru_cache(maxsize=1024)  # a year file's amounts, read on every assessment
def _param_amount(text: str, name: str) -> Decimal:
    return parse_money(text, name=name)


def _amount(value: object) -> Decimal:
    """parse_money for a year file's value: its text read once (bands are read per claim)."""
    return _param_amount(value, "amount") if value.__class__ is str else parse_money(value)


def yuan(amount: Decimal) -> str:
    return format_money(amount)


@dataclass
class Context:
    """Everything one assessment reads, and the working it writes."""

    year: int
    claim: ClaimFacts
    history: tuple[HistoryEntry, ...]
    rule: BenefitRule
    data: YearData
    explain: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.rule.benefit.code

    def step(self, text: str) -> None:
        self.explain.append(text)

    def refuse(self, reason: str) -> None:
        self.reasons.append(reason)

    def param(self, name: str, default: Any = _MISSING) -> Any:
        if name in self.rule.params:
            return self.rule.params[name]
        if default is _MISSING:
            raise PolicyDataError(self.data.file, f"benefits.{self.code}.params.{name}", "缺少参数")
        return default

    def amount_param(self, name: str, default: Any = _MISSING) -> Decimal | None:
        value = self.param(name, default)
        if value is None:
            return None
        if isinstance(value, float):
            raise PolicyDataError(
                self.data.file, f"benefits.{self.code}.params.{name}", "写成字符串以免浮点误差"
            )
        try:
            if value.__class__ is str:
                return _param_amount(value, name)
            return parse_money(value, name=name)
        except ValueError as exc:
            raise PolicyDataError(
                self.data.file, f"benefits.{self.code}.params.{name}", str(exc)
            ) from None

    def fact(self, name: str) -> Any:
        value = getattr(self.claim, name)
        if value is None:
            raise FactError(f"{self.code} 需要事实 {name}（{FACT_LABELS.get(name, name)}）")
        return value

    def history_of(self, *codes: str) -> list[HistoryEntry]:
        wanted = codes or (self.code,)
        return [h for h in self.history if h.benefit in wanted]


Formula = Callable[[Context], "tuple[Decimal, Decimal] | None"]


# ---- building blocks -------------------------------------------------------------------


def once_per_period(ctx: Context, codes: Sequence[str] = ()) -> bool:
    """True when nothing of these benefits was paid yet this period; refuses otherwise."""
    earlier = ctx.history_of(*(codes or (ctx.code,)))
    if earlier:
        ctx.refuse(
            f"{ctx.rule.benefit.name}每期只能申请一次，本期已申请过（已付 {yuan(earlier[0].payable)} 元）"
        )
        return False
    ctx.step("本期此前未申请过该项补助（每期一次）")
    return True


def threshold_met(ctx: Context, base_name: str, base: Decimal, threshold: Decimal) -> bool:
    label = FACT_LABELS.get(base_name, base_name)
    if base < threshold:
        ctx.refuse(f"{label} {yuan(base)} 元未达到 {yuan(threshold)} 元的起付标准")
        return False
    ctx.step(f"{label} {yuan(base)} 元达到 {yuan(threshold)} 元起付标准")
    return True


def capped(
    ctx: Context, amount: Decimal, cap: Decimal | None, label: str = "单次补助上限"
) -> Decimal:
    if cap is not None and amount > cap:
        ctx.step(f"{label} {yuan(cap)} 元: {yuan(amount)} → {yuan(cap)}")
        return cap
    return amount


def within_cumulative_cap(
    ctx: Context, amount: Decimal, cap: Decimal, codes: Sequence[str] = ()
) -> Decimal | None:
    """Limit to what is left of a per-period cap after what history already paid."""
    paid = sum((h.payable for h in ctx.history_of(*(codes or (ctx.code,)))), ZERO)
    left = cap - paid
    if left <= 0:
        ctx.refuse(f"本期累计已补助 {yuan(paid)} 元，已达累计上限 {yuan(cap)} 元")
        return None
    if paid:
        ctx.step(f"本期已补助 {yuan(paid)} 元，累计上限 {yuan(cap)} 元，尚余 {yuan(left)} 元")
    if amount > left:
        ctx.step(f"按累计上限的余额支付: {yuan(amount)} → {yuan(left)}")
        return left
    return amount


def band_for(amount: Decimal, bands: Sequence[dict]) -> tuple[Decimal, dict | None]:
    """The amount of the [from, to) band ``amount`` falls in; (0, None) below every band."""
    for band in bands:
        lo = _amount(band["from"])
        hi = None if band.get("to") is None else _amount(band["to"])
        if amount >= lo and (hi is None or amount < hi):
            return _amount(band["amount"]), band
    return ZERO, None


def describe_band(band: dict | None) -> str:
    if band is None:
        return "低于最低档"
    hi = band.get("to")
    upper = f"{yuan(_amount(hi))} 元以下" if hi is not None else "以上"
    return f"{yuan(_amount(band['from']))} 元（含）至 {upper}档"


def liability_factor(ctx: Context, factors: dict) -> Decimal | None:
    """A traffic accident scales by the police liability finding (none … full)."""
    liability = ctx.claim.liability
    if liability is None:
        raise FactError(
            f"{ctx.code} 因交通事故申请时需要事实 liability（事故责任: none/secondary/equal/main/full）"
        )
    factor = parse_money(factors[liability])
    if factor == 0:
        ctx.refuse(f"交通事故中负{_LIABILITY_LABELS[liability]}，不予救助")
        return None
    ctx.step(f"交通事故{_LIABILITY_LABELS[liability]}: 按 {pct(factor)} 计")
    return factor


_LIABILITY_LABELS = {
    "none": "无责任",
    "secondary": "次要责任",
    "equal": "同等责任",
    "main": "主要责任",
    "full": "全部责任",
}


# ---- the generic kinds -----------------------------------------------------------------


def fixed(ctx: Context):
    """A fixed sum, optionally once per period and behind a cost threshold (dialysis 5000)."""
    counted = ZERO
    base_name = ctx.param("threshold_of", None)
    if base_name is not None:
        counted = ctx.fact(base_name)
        if not threshold_met(ctx, base_name, counted, ctx.amount_param("threshold")):
            return None
    if ctx.param("once_per_period", False) and not once_per_period(ctx, ctx.param("once_with", ())):
        return None
    amount = ctx.amount_param("amount")
    ctx.step(f"定额补助 {yuan(amount)} 元")
    return amount, counted


def rate(ctx: Context):
    """A share of a base amount: threshold, per-claim cap, cumulative cap, once per period."""
    base_name = ctx.param("base")
    base = ctx.fact(base_name)
    if ctx.param("once_per_period", False) and not once_per_period(ctx, ctx.param("once_with", ())):
        return None
    threshold = ctx.amount_param("threshold", None)
    if threshold is not None and not threshold_met(ctx, base_name, base, threshold):
        return None
    share = ctx.amount_param("rate")
    amount = round_money(base * share)
    ctx.step(f"按 {pct(share)} 补助: {yuan(base)} × {pct(share)} = {yuan(amount)}")
    amount = capped(ctx, amount, ctx.amount_param("cap", None))
    cumulative = ctx.amount_param("cumulative_cap", None)
    if cumulative is not None:
        amount = within_cumulative_cap(ctx, amount, cumulative, ctx.param("cap_with", ()))
        if amount is None:
            return None
    return amount, base


def bands(ctx: Context):
    """A band table on a base amount; with ``cumulative`` the period's running total."""
    base_name = ctx.param("base")
    counted = ctx.fact(base_name)
    return banded(ctx, counted, FACT_LABELS.get(base_name, base_name))


def banded(ctx: Context, counted: Decimal, label: str):
    """Pay the band of ``counted`` (or of the period's running total, topping up)."""
    table = ctx.param("bands")
    if not ctx.param("cumulative", False):
        amount, band = band_for(counted, table)
        ctx.step(f"{label} {yuan(counted)} 元，属 {describe_band(band)}: {yuan(amount)} 元")
        return amount, counted
    earlier = ctx.history_of()
    before = sum((h.counted for h in earlier), ZERO)
    paid = sum((h.payable for h in earlier), ZERO)
    total = before + counted
    if earlier:
        ctx.step(
            f"本年此前累计 {yuan(before)} 元，加本次 {yuan(counted)} 元，全年累计 {yuan(total)} 元"
        )
    amount, band = band_for(total, table)
    ctx.step(f"全年累计 {yuan(total)} 元，属 {describe_band(band)}: 应补助 {yuan(amount)} 元")
    if paid:
        topped = max(amount - paid, ZERO)
        ctx.step(
            f"本年已补助 {yuan(paid)} 元，本次补差 {yuan(amount)} − {yuan(paid)} = {yuan(topped)} 元"
        )
        amount = topped
    return amount, counted


def grade_table(ctx: Context):
    """Amounts by grade range (Wujin work injury: 1-2 or death 5000 …)."""
    grade = ctx.fact("grade")
    for row in ctx.param("table"):
        if grade in row["grades"]:
            amount = parse_money(row["amount"])
            label = "死亡" if grade == "death" else f"{grade}级"
            ctx.step(f"{label}: {yuan(amount)} 元")
            return amount, ZERO
    ctx.refuse(f"等级 {grade} 不在补助范围内")
    return None


def settled(ctx: Context):
    """Amount as the hospital settled it (Quzhou direct settlement)."""
    amount = ctx.fact("settled_amount")
    ctx.step(f"医院直接结算金额 {yuan(amount)} 元，按结算记录入账")
    counted = ctx.claim.total_cost if ctx.claim.total_cost is not None else amount
    return amount, counted


GENERIC_KINDS: dict[str, Formula] = {
    "fixed": fixed,
    "rate": rate,
    "bands": bands,
    "grade_table": grade_table,
    "settled": settled,
}
