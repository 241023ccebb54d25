"""Zhangjiakou's own formula: non-work accident disability and death (附件1 第八条第6款).

Grade I pays the top amount, each grade lower ``step`` less ("II 较 I 级减少 2500 元，以此类推");
death pays ``death_amount``. A traffic accident scales it by the police liability finding.
"""

from __future__ import annotations

from services.kernel.formulas import Context, liability_factor, yuan
from services.kernel.money import round_money


def accident(ctx: Context):
    if ctx.param("death", False):
        amount = ctx.amount_param("amount")
        ctx.step(f"非工伤意外身故定额 {yuan(amount)} 元")
    else:
        grade = ctx.fact("grade")
        if grade == "death":
            ctx.refuse("身故请按 accident_death 申请")
            return None
        top, step = ctx.amount_param("top"), ctx.amount_param("step")
        amount = top - step * (grade - 1)
        ctx.step(f"伤残 {grade} 级: {yuan(top)} − {yuan(step)} × {grade - 1} = {yuan(amount)} 元")
    if ctx.claim.cause == "traffic":
        factor = liability_factor(ctx, ctx.param("liability_factors"))
        if factor is None:
            return None
        scaled = round_money(amount * factor)
        ctx.step(f"{yuan(amount)} × {factor} = {yuan(scaled)} 元")
        amount = scaled
    return amount, amount
