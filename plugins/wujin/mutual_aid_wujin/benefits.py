"""Wujin's own formula: the inpatient subsidy (通知 五、1).

The subsidy is a band table on the member's annual cumulative self-borne amount (个人自理),
but what a stay adds to that amount depends on how it was settled (五、1 注):

- settled with the medical-insurance card: the self-borne amount as it is (注(1));
- not settled through medical insurance: ``not_settled_rate`` (34%) of it (注(1));
- a traffic accident not settled through medical insurance: ``traffic_not_settled_rate``
  (54.5%) of the member's liability share of the total cost (注(2)).

The converted amount is then banded by the kernel's ``banded`` (cumulative, topping up to the
band of the new annual total). Work-injury stays (注(3)) are refused before this runs, by the
benefit's ``excluded_causes``.
"""

from __future__ import annotations

from decimal import Decimal

from services.kernel.errors import FactError
from services.kernel.formulas import Context, banded, pct, yuan
from services.kernel.money import round_money


def counted_self_borne(ctx: Context) -> Decimal:
    """The amount this stay adds to the member's annual self-borne total."""
    claim = ctx.claim
    if claim.settled_by_insurance:
        amount = ctx.fact("self_borne")
        ctx.step(f"经医保结算: 按住院医疗自理费用实际金额 {yuan(amount)} 元核算")
        return amount
    if claim.cause == "traffic":
        total = ctx.fact("total_cost")
        share = claim.liability_share
        if share is None:
            raise FactError(
                f"{ctx.code} 因交通事故住院且未经医保结算时需要事实 liability_share"
                "（本人在事故中承担的责任比例，0 到 1 的小数，如 0.7）"
            )
        rate = ctx.amount_param("traffic_not_settled_rate")
        # The counted amount is recorded in the member's history and banded as money, so it
        # is rounded to the fen here; the band is then that of the amount the clerk sees.
        counted = round_money(total * share * rate)
        ctx.step(
            f"交通事故住院且未经医保结算: 医疗费总额 {yuan(total)} 元 × 本人责任 {pct(share)}"
            f" × {pct(rate)} = {yuan(counted)} 元"
        )
        if claim.self_borne is not None:
            ctx.step(
                f"（此情形按医疗费总额核算，不采用填报的个人自理金额 {yuan(claim.self_borne)} 元）"
            )
        return counted
    self_borne = ctx.fact("self_borne")
    rate = ctx.amount_param("not_settled_rate")
    counted = round_money(self_borne * rate)
    ctx.step(
        f"未经医保结算: 住院医疗自理费用 {yuan(self_borne)} 元 × {pct(rate)} = {yuan(counted)} 元"
    )
    return counted


def inpatient(ctx: Context):
    """住院医疗费用补助金: the band of the annual cumulative counted self-borne amount."""
    return banded(ctx, counted_self_borne(ctx), "核算的个人自理金额")
