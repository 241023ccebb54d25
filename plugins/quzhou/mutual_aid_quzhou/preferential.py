"""The rule behind the preferential-unit lists (优惠单位名单), for computing a later year's list.

衢州 2025 三 / 江山 2020 六、(一): a unit (one 医保编码 / 社保编码) with at least ``min_members``
members in year Y − ``lookback_years`` and a reimbursement rate that year (claims paid ÷
premiums paid) strictly below ``max_reimbursement_rate`` renews in year Y at the price less
``discount``. The numbers are the year file's ``fee.preferential_rule``; here is only the
comparison, and the check that the rule's discount gives the file's preferential price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.kernel import fastload as fl
from services.kernel.errors import PolicyDataError
from services.kernel.formulas import yuan
from services.kernel.hooks import UnitYearStats  # the kernel's value type (a hook's)
from services.kernel.money import round_money
from services.kernel.parameters import YearData


@dataclass(frozen=True)
class PreferentialRule:
    min_members: int
    max_reimbursement_rate: Decimal
    lookback_years: int
    discount: Decimal

    def qualifies(self, stats: UnitYearStats) -> bool:
        # 报销率低于50%: compare claims with rate × premiums, so no division and no rounding;
        # a unit that paid no premiums has no rate and does not qualify.
        return (
            stats.members >= self.min_members
            and stats.claims < self.max_reimbursement_rate * stats.premiums
        )


# the rule's layout: a fastload record for the common case (no marshmallow, issue 14: CLI
# start), the marshmallow schema for anything the record is not sure of (and every message)
_RULE = fl.Record(
    {
        "min_members": (fl.between(1, None), fl.REQUIRED),
        "max_reimbursement_rate": (fl.decimal_text, fl.REQUIRED),
        "lookback_years": (fl.between(1, None), fl.REQUIRED),
        "discount": (fl.decimal_text, fl.REQUIRED),
    }
)


def _rule_schema():
    from marshmallow import RAISE, Schema, fields, validate

    from services.kernel.year_schemas import DecimalText

    class RuleSchema(Schema):
        class Meta:
            unknown = RAISE

        min_members = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
        max_reimbursement_rate = DecimalText(required=True)
        lookback_years = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
        discount = DecimalText(required=True)

    return RuleSchema()


def preferential_rule(data: YearData) -> PreferentialRule:
    """The year's rule, validated; errors name the file and the key."""
    key = "fee.preferential_rule"
    if not data.preferential_rule:
        raise PolicyDataError(
            data.file, key, f"{data.year} 年度未配置优惠单位的认定规则，无法计算优惠名单"
        )
    try:
        loaded = _RULE(data.preferential_rule)
    except fl.Slow:
        from marshmallow import ValidationError

        try:
            loaded = _rule_schema().load(data.preferential_rule)
        except ValidationError as exc:
            field, messages = next(iter(exc.messages.items()))
            text = " ".join(messages) if isinstance(messages, list) else str(messages)
            raise PolicyDataError(data.file, f"{key}.{field}", text) from None
    rule = PreferentialRule(**loaded)
    for name in ("max_reimbursement_rate", "discount"):
        if not Decimal(0) < getattr(rule, name) < Decimal(1):
            raise PolicyDataError(data.file, f"{key}.{name}", "应为 0 到 1 之间的小数")
    if data.preferential_price is not None:
        discounted = round_money(data.price * (1 - rule.discount))
        if discounted != data.preferential_price:
            raise PolicyDataError(
                data.file,
                f"{key}.discount",
                f"{yuan(data.price)} × (1 − {rule.discount}) = {yuan(discounted)}，"
                f"与 fee.preferential_price {yuan(data.preferential_price)} 不一致",
            )
    return rule
