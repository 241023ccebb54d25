"""柯桥 2019: the sub-unions' KPI (赔付率、参保人数考核) — the formula; the numbers are data.

The notice (seeds/002, 通知正文第二段): a sub-union meets the claim KPI when its paid-claim
headcount reaches 2% of its base members OR its paid amount reaches 30% of its base premium;
attachments 2 and 3 turn that into target figures per sub-union, rounded unevenly, and those
figures are what we judge against (the ratios are reported beside them). A town union that
misses its enrolment target or the claim KPI loses 0.5 points (扣岗位责任制考核分0.5分).
Ratios, the "or", the points and who loses them are read from ``extra.kpi`` of the year file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.kernel import fastload as fl
from services.kernel.errors import PolicyDataError, PolicyError
from services.kernel.formulas import pct, yuan
from services.kernel.hooks import KpiRow, percent  # the kernel's value types (a hook's)
from services.kernel.parameters import YearData
from services.kernel.policy import Target, TargetResult

ENROLMENT, HEADCOUNT, AMOUNT = "enrolment", "claim_headcount", "claim_amount"
KINDS = (ENROLMENT, HEADCOUNT, AMOUNT)
KIND_LABELS = {ENROLMENT: "参保人数", HEADCOUNT: "赔付人数", AMOUNT: "赔付金额"}
RULES = ("headcount_or_amount", "headcount_and_amount")


class ActualsError(PolicyError):
    """Recorded actuals the KPI report cannot read (unknown sub-union or kind, a bad number)."""


@dataclass(frozen=True)
class KpiRule:
    headcount_ratio: Decimal  # 赔付人数比例
    amount_ratio: Decimal  # 赔付金额比例
    rule: str  # headcount_or_amount ("或") | headcount_and_amount
    points_lost: Decimal
    points_group: str  # the target group whose members lose points
    points_exempt: tuple[str, ...]  # in that group's tables, but not subject to the deduction
    source: str = ""


# extra.kpi's layout: a fastload record for the common case (no marshmallow, issue 14: CLI
# start), the marshmallow schema for anything the record is not sure of (and every message)
_KPI = fl.Record(
    {
        "headcount_ratio": (fl.decimal_text, fl.REQUIRED),
        "amount_ratio": (fl.decimal_text, fl.REQUIRED),
        "rule": (fl.one_of(RULES), fl.REQUIRED),
        "points_lost": (fl.decimal_text, fl.REQUIRED),
        "points_group": (fl.string, fl.REQUIRED),
        "points_exempt": (fl.list_of(fl.string), list),
        "source": (fl.string, ""),
    }
)


def _kpi_schema():
    from marshmallow import RAISE, Schema, fields, validate

    from services.kernel.year_schemas import DecimalText

    class KpiSchema(Schema):
        class Meta:
            unknown = RAISE

        headcount_ratio = DecimalText(required=True)
        amount_ratio = DecimalText(required=True)
        rule = fields.String(required=True, validate=validate.OneOf(RULES))
        points_lost = DecimalText(required=True)
        points_group = fields.String(required=True)
        points_exempt = fields.List(fields.String(), load_default=list)
        source = fields.String(load_default="")

    return KpiSchema()


def load_rule(data: YearData) -> KpiRule:
    """``extra.kpi`` of a year file, checked against its targets; errors name file and key."""
    raw = data.extra.get("kpi")
    if not isinstance(raw, dict):
        raise PolicyDataError(
            data.file, "extra.kpi", "缺少考核规则（赔付人数比例、赔付金额比例、扣分）"
        )
    try:
        loaded = _KPI(raw)
    except fl.Slow:
        from marshmallow import ValidationError

        try:
            loaded = _kpi_schema().load(raw)
        except ValidationError as exc:
            key, messages = next(iter(exc.messages.items()))
            text = " ".join(messages) if isinstance(messages, list) else str(messages)
            raise PolicyDataError(data.file, f"extra.kpi.{key}", text) from None
    rule = KpiRule(**{**loaded, "points_exempt": tuple(loaded["points_exempt"])})
    _check_targets(data, rule)
    return rule


def _check_targets(data: YearData, rule: KpiRule) -> None:
    """Every sub-union has one target of each kind; the claim targets carry their base."""
    by_org: dict[str, dict[str, Target]] = {}
    for t in data.targets:
        kinds = by_org.setdefault(t.organisation, {})
        if t.kind not in KINDS:
            raise PolicyDataError(
                data.file, f"targets.{t.organisation}", f"考核不认识的目标类型 {t.kind}"
            )
        if t.kind in kinds:
            raise PolicyDataError(
                data.file, f"targets.{t.organisation}", f"重复的{KIND_LABELS[t.kind]}目标"
            )
        if t.kind != ENROLMENT and t.base is None:
            raise PolicyDataError(
                data.file, f"targets.{t.organisation}", f"{KIND_LABELS[t.kind]}目标缺少基数 base"
            )
        if t.kind != AMOUNT and t.figure != t.figure.to_integral_value():
            raise PolicyDataError(
                data.file, f"targets.{t.organisation}", f"{KIND_LABELS[t.kind]}目标应为整数"
            )
        kinds[t.kind] = t
    for org, kinds in by_org.items():
        missing = [KIND_LABELS[k] for k in KINDS if k not in kinds]
        if missing:
            raise PolicyDataError(data.file, f"targets.{org}", f"缺少{'、'.join(missing)}目标")
    names = {d.name for d in data.districts}
    if set(by_org) != names:
        odd = sorted(set(by_org) ^ names)
        raise PolicyDataError(
            data.file, "targets", f"目标单位与 districts 不一致: {'、'.join(odd)}"
        )
    groups = {t.group for t in data.targets}
    if rule.points_group not in groups:
        raise PolicyDataError(
            data.file, "extra.kpi.points_group", f"没有这一组目标: {rule.points_group}"
        )
    unknown = [o for o in rule.points_exempt if o not in by_org]
    if unknown:
        raise PolicyDataError(
            data.file, "extra.kpi.points_exempt", f"没有这些单位的目标: {'、'.join(unknown)}"
        )


def check_actual(organisation: str, kind: str, value: object) -> Decimal:
    """A recorded actual: a non-negative Decimal, whole for head counts."""
    if kind not in KINDS:
        raise ActualsError(f"{organisation}: 不认识的实绩类型 {kind!r}；可用: {'、'.join(KINDS)}")
    if isinstance(value, float):
        raise ActualsError(
            f'{organisation} {KIND_LABELS[kind]}: 写成字符串以免浮点误差，如 "{value}"'
        )
    try:
        amount = Decimal(value)  # type: ignore[arg-type]
    except (ArithmeticError, TypeError, ValueError):
        raise ActualsError(f"{organisation} {KIND_LABELS[kind]}: {value!r} 不是数字") from None
    if not amount.is_finite() or amount < 0:
        raise ActualsError(f"{organisation} {KIND_LABELS[kind]}: {value!r} 不能为负数")
    if kind != AMOUNT and amount != amount.to_integral_value():
        raise ActualsError(f"{organisation} {KIND_LABELS[kind]}: 人数应为整数，不是 {value}")
    return amount


def rows(rule: KpiRule, results: Sequence[TargetResult]) -> list[KpiRow]:
    """One row per sub-union, in the order of the notice's tables."""
    grouped: dict[str, dict[str, TargetResult]] = {}
    for r in results:
        grouped.setdefault(r.target.organisation, {})[r.target.kind] = r
    return [_row(rule, org, kinds) for org, kinds in grouped.items()]


def _row(rule: KpiRule, org: str, results: Mapping[str, TargetResult]) -> KpiRow:
    enrol, heads, money = results[ENROLMENT], results[HEADCOUNT], results[AMOUNT]
    base_heads, base_money = heads.target.base, money.target.base
    assert base_heads is not None and base_money is not None  # load_rule checked the data
    heads_ratio = heads.actual / base_heads if base_heads else Decimal(0)
    money_ratio = money.actual / base_money if base_money else Decimal(0)
    explain = [
        f"参保 {int(enrol.actual)} 人，目标 {int(enrol.target.figure)} 人：{_done(enrol.met)}",
        f"赔付 {int(heads.actual)} 人，占基数 {int(base_heads)} 人的 {percent(heads_ratio)}，"
        f"目标 {int(heads.target.figure)} 人{_as_given(base_heads * rule.headcount_ratio, heads.target.figure, rule.headcount_ratio, '人')}："
        f"{_reached(heads.met)}",
        f"赔付金额 {yuan(money.actual)} 元，占基数互助金 {yuan(base_money)} 元的 {percent(money_ratio)}，"
        f"目标 {yuan(money.target.figure)} 元{_as_given(base_money * rule.amount_ratio, money.target.figure, rule.amount_ratio, '元')}："
        f"{_reached(money.met)}",
    ]
    if rule.rule == "headcount_or_amount":
        claim_met = heads.met or money.met
        explain.append(f"赔付人数或赔付金额达到其一即完成赔付指标：{_done(claim_met)}")
    else:
        claim_met = heads.met and money.met
        explain.append(f"赔付人数和赔付金额均须达到：{_done(claim_met)}")
    points = _points(rule, enrol.target.group, org, enrol.met and claim_met, explain)
    return KpiRow(
        organisation=org,
        group=enrol.target.group,
        enrolment_target=int(enrol.target.figure),
        enrolled=int(enrol.actual),
        enrolment_met=enrol.met,
        base_headcount=int(base_heads),
        base_amount=base_money,
        headcount_target=int(heads.target.figure),
        amount_target=money.target.figure,
        paid_headcount=int(heads.actual),
        paid_amount=money.actual,
        headcount_ratio=heads_ratio,
        amount_ratio=money_ratio,
        headcount_met=heads.met,
        amount_met=money.met,
        claim_met=claim_met,
        points_lost=points,
        explain=tuple(explain),
    )


def _points(
    rule: KpiRule, group: str | None, org: str, all_met: bool, explain: list[str]
) -> Decimal | None:
    if group != rule.points_group:
        return None
    if org in rule.points_exempt:
        explain.append(f"{org}不属镇（街道、开发区），通知未规定扣分")
        return None
    if all_met:
        explain.append("完成参保人数和赔付指标，不扣分")
        return Decimal(0)
    explain.append(f"未完成参保人数或赔付指标，扣岗位责任制考核分 {rule.points_lost} 分")
    return rule.points_lost


def _as_given(exact: Decimal, given: Decimal, ratio: Decimal, unit: str) -> str:
    """Say so when the attachment's figure is not base × ratio exactly (its rounding)."""
    if exact == given:
        return ""
    return f"（基数 × {pct(ratio)} = {exact.normalize():f} {unit}，按附件所列目标数考核）"


def _done(met: bool) -> str:
    return "完成" if met else "未完成"


def _reached(met: bool) -> str:
    return "达到" if met else "未达到"
