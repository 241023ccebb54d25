"""The layout of a year file and of a benefit schedule, as marshmallow schemas.

Kept apart from parameters.py so that listing the cities (`mutual-aid cities`) or importing a
plugin module does not import marshmallow (issue 14: CLI start); a year file is validated with
these when it is first loaded.
"""

from __future__ import annotations

from decimal import Decimal

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from services.kernel.hooks import PayoutAdvice
from services.kernel.money import MoneyError, parse_money
from services.kernel.policy import Account
from services.kernel.year_fastload import (
    ACCOUNT_NUMBER,
    PARTICIPATION_BASES,
    PAY_DAYS_KINDS,
    REVIEW_CADENCES,
    TARGET_KINDS,
)


class DecimalText(fields.Field):
    """A number in a data file: written as a string or an int, read as Decimal."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float):
            raise ValidationError(f'写成字符串以免浮点误差，如 "{value}"')
        try:
            return parse_money(value, name=attr or "value")
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class AccountSchema(_Strict):
    payee = fields.String(required=True)
    bank = fields.String(required=True)
    number = fields.String(
        required=True, validate=validate.Regexp(ACCOUNT_NUMBER, error="账号只含数字，不含空格")
    )
    remark = fields.String()
    source = fields.String()

    @post_load
    def make(self, data, **kwargs):
        data.pop("source", None)
        return Account(**data)


class BandSchema(_Strict):
    min = fields.Integer(required=True)
    max = fields.Integer(load_default=None)
    per_person = DecimalText(required=True)


class DistrictSchema(_Strict):
    code = fields.String(required=True)
    name = fields.String(required=True)
    aliases = fields.List(fields.String(), load_default=list)
    account = fields.Nested(AccountSchema)
    preferential_units = fields.List(fields.String(), load_default=list)
    non_public_subsidy = fields.List(fields.Nested(BandSchema), load_default=list)


class PeriodSchema(_Strict):
    number = fields.Integer(load_default=None)
    cover = fields.List(fields.Date(), required=True, validate=validate.Length(equal=2))
    window = fields.List(
        fields.Date(allow_none=True), required=True, validate=validate.Length(equal=2)
    )
    source = fields.String()


class FeeSchema(_Strict):
    price = DecimalText(required=True)
    preferential_price = DecimalText()
    preferential_rule = fields.Dict()  # formula parameters for computing future lists
    union_subsidy_per_person = DecimalText(load_default=Decimal("0"))
    source = fields.String()


class ParticipationSchema(_Strict):
    min_share = DecimalText(required=True)
    base = fields.String(required=True, validate=validate.OneOf(PARTICIPATION_BASES))
    all_required_up_to = fields.Integer(required=True)
    source = fields.String()


class RosterColumnSchema(_Strict):
    field = fields.String(required=True)
    titles = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    required = fields.Boolean(load_default=False)


class RosterSchema(_Strict):
    sheet = fields.String(required=True)
    title = fields.String(required=True)
    application_sheet = fields.String(load_default=None)
    unit_key = fields.String(load_default="单位编码")
    columns = fields.List(fields.Nested(RosterColumnSchema), required=True)
    source = fields.String()


class DeadlineSchema(_Strict):
    years_after = fields.Integer(required=True)
    month = fields.Integer(required=True, validate=validate.Range(1, 12))
    day = fields.Integer(required=True, validate=validate.Range(1, 31))


class ClaimsSchema(_Strict):
    deadline = fields.Nested(DeadlineSchema, load_default=None)
    source = fields.String()


class BenefitSchema(_Strict):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    needs = fields.List(fields.String(), load_default=list)
    counts_by = fields.String(load_default=None)
    attachments = fields.List(fields.String(), load_default=list)
    review = fields.String(load_default="on_receipt", validate=validate.OneOf(REVIEW_CADENCES))
    pay_within_days = fields.Integer(load_default=None)
    pay_within_days_max = fields.Integer(load_default=None)
    pay_days_kind = fields.String(load_default="calendar", validate=validate.OneOf(PAY_DAYS_KINDS))
    excluded_causes = fields.List(fields.String(), load_default=list)
    excluded_places = fields.List(fields.String(), load_default=list)
    params = fields.Dict(load_default=dict)
    summary = fields.String(load_default="")
    source = fields.String(load_default="")


class ExclusionSchema(_Strict):
    code = fields.String(required=True)
    label = fields.String(required=True)
    benefits = fields.List(fields.String(), load_default=list)
    recover = fields.Boolean(load_default=False)
    unless_causes = fields.List(fields.String(), load_default=list)
    source = fields.String(load_default="")


class TargetSchema(_Strict):
    organisation = fields.String(required=True)
    kind = fields.String(
        required=True,
        validate=validate.OneOf(TARGET_KINDS),
    )
    figure = DecimalText(required=True)
    base = DecimalText(load_default=None)
    group = fields.String(load_default=None)


class PayoutAdviceSchema(_Strict):
    reason = fields.String(required=True)  # a payout failure reason code (payments' failures.py)
    advice = fields.String(required=True)
    source = fields.String(load_default="")

    @post_load
    def make(self, data, **kwargs):
        return PayoutAdvice(**data)


class YearSchema(_Strict):
    year = fields.Integer(required=True)
    source = fields.String(required=True)
    period = fields.Nested(PeriodSchema, required=True)
    districts = fields.List(fields.Nested(DistrictSchema), load_default=list)
    account = fields.Nested(AccountSchema, load_default=None)
    fee = fields.Nested(FeeSchema, required=True)
    participation = fields.Nested(ParticipationSchema, load_default=None)
    roster = fields.Nested(RosterSchema, required=True)
    claims = fields.Nested(ClaimsSchema, load_default=None)
    benefits = fields.List(fields.Nested(BenefitSchema), load_default=list)
    benefit_schedule = fields.String(load_default=None)  # a separate schedule file's name
    exclusions = fields.List(fields.Nested(ExclusionSchema), load_default=list)
    targets = fields.List(fields.Nested(TargetSchema), load_default=list)
    targets_source = fields.String()
    payout_advice = fields.List(fields.Nested(PayoutAdviceSchema), load_default=list)
    extra = fields.Dict(load_default=dict)  # plugin-specific parameters, checked by the plugin


class ScheduleSchema(_Strict):
    """A benefit schedule kept apart from the year file (Keqiao: its rates are not in the notice)."""

    source = fields.String(required=True)
    benefits = fields.List(fields.Nested(BenefitSchema), required=True)
    exclusions = fields.List(fields.Nested(ExclusionSchema), load_default=list)
