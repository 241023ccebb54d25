"""What every boundary schema shares: Chinese messages, checked text and plain decimal amounts.

marshmallow's own messages are English ("Length must be between 15 and 20.", "Not a valid
date."); a clerk reads Chinese, so ``Strict`` gives every field of a schema Chinese messages
once, here, and the validators below carry their own. ``Text`` refuses what the database
would choke on (PostgreSQL refuses a NUL in text; a string longer than its column is a
DataError there and silently kept on SQLite), so a caller hears which field is wrong instead
of a 500. Lengths come from the owning service's columns (``length_of(Claim.name)``), never
from numbers repeated here. No nameko, no database: the kernel's facts schema uses it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.kernel.fastload import text_problem
from services.kernel.money import MAX_AMOUNT, MoneyError, parse_amount

UNKNOWN_FIELD = "不认识的字段（拼写错误？）"

# marshmallow's "invalid" message per field type, by the first class of the field's MRO found
_INVALID = {
    fields.Date: "应为日期（YYYY-MM-DD）",
    fields.DateTime: "应为日期时间（ISO 8601）",
    fields.Integer: "应为整数",
    fields.Decimal: "应为数字",
    fields.Number: "应为数字",
    fields.Boolean: "应为 true 或 false",
    fields.String: "应为文字",
    fields.Dict: "应为对象",
    fields.Mapping: "应为对象",
    fields.List: "应为列表",
    fields.Nested: "应为对象",
}
_COMMON = {
    "required": "必填",
    "null": "不能为空（null）",
    "validator_failed": "值无效",
    "too_large": "数值过大",
    "invalid_utf8": "不是有效的 UTF-8 文字",
}


def _chinese(field: fields.Field) -> None:
    """Replace marshmallow's English defaults; messages a field was given stay as given."""
    defaults: dict[str, str] = {}
    for cls in reversed(type(field).__mro__):
        defaults.update(getattr(cls, "default_error_messages", {}))
    invalid = next((_INVALID[c] for c in type(field).__mro__ if c in _INVALID), "值无效")
    for key, message in list(field.error_messages.items()):
        if message == defaults.get(key):
            field.error_messages[key] = invalid if key == "invalid" else _COMMON.get(key, message)
    for inner in (getattr(field, "inner", None), getattr(field, "key_field", None)):
        if isinstance(inner, fields.Field):
            _chinese(inner)
    value_field = getattr(field, "value_field", None)
    if isinstance(value_field, fields.Field):
        _chinese(value_field)


class Strict(Schema):
    """Unknown keys refused (a misspelt field is a mistake, not something to drop), every
    message Chinese."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": UNKNOWN_FIELD, "type": "应为一个对象"}

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        _chinese(field_obj)


# ---- validators with Chinese messages -------------------------------------------------------


class Length(validate.Length):
    message_min = "至少 {min} 个字符"
    message_max = "最多 {max} 个字符"
    message_all = "应为 {min} 到 {max} 个字符"
    message_equal = "应为 {equal} 个字符"


class Range(validate.Range):
    # marshmallow fills in the comparison first, then the bounds ({{min}} survives the first)
    message_min = "应{min_op} {{min}}"
    message_max = "应{max_op} {{max}}"
    message_all = "应{min_op} {{min}} 且{max_op} {{max}}"
    message_gte = "不小于"
    message_gt = "大于"
    message_lte = "不大于"
    message_lt = "小于"


class OneOf(validate.OneOf):
    default_message = "应为 {choices} 之一"


class Regexp(validate.Regexp):
    default_message = "格式不对"


# ---- fields ---------------------------------------------------------------------------------


def length_of(column: Any) -> int:
    """The length of a String column (a mapped attribute such as ``Claim.name``)."""
    length = column.type.length
    if not length:
        raise TypeError(f"{column} has no length")
    return length


class Text(fields.String):
    """Text a person typed: no NUL or other control characters (tab and line breaks only in
    ``multiline`` text), not blank unless ``blank=True``, at most ``max_length`` characters."""

    def __init__(
        self,
        max_length: int | None = None,
        *,
        multiline: bool = False,
        blank: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_length, self.multiline, self.blank = max_length, multiline, blank

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(
            text, multiline=self.multiline, blank=self.blank, max_length=self.max_length
        )
        if problem is not None:
            raise ValidationError(problem)
        return text


def resident_id(**kwargs: Any) -> Text:
    """A resident ID as sent: 15 or 18 characters with a little blank around (full-width
    digits are normalised later); services/kernel/idcard.parse_id says what else is wrong."""
    return Text(20, validate=Length(min=15), **kwargs)


class Amount(fields.Field):
    """An amount of money in yuan: a plain decimal string ("7000.50") or an int, at most two
    places, 0 to ``maximum`` (money.MAX_AMOUNT). Floats, exponents, NaN and Infinity are
    refused: each either lost the fen or is no amount a form could hold."""

    def __init__(self, *, maximum=MAX_AMOUNT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.maximum = maximum

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            amount = parse_amount(value, name=attr or "amount", maximum=self.maximum)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None
        if amount < 0:
            raise ValidationError("金额不能为负")
        return amount


# ---- one line naming each field -------------------------------------------------------------


def flatten(errors: object, path: str = "") -> Iterator[tuple[str, str]]:
    """marshmallow's nested error dict as (dotted field path, message) pairs."""
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            yield from flatten(value, f"{path}.{key}" if path else str(key))
    elif isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        yield path, " ".join(errors)
    elif isinstance(errors, list):
        for i, value in enumerate(errors):
            yield from flatten(value, f"{path}[{i}]")
    else:
        yield path, str(errors)


def one_line(prefix: str, errors: object) -> str:
    """``prefix`` then every problem as ``field: message``, on one line."""
    return prefix + "; ".join(f"{key}: {message}" for key, message in sorted(flatten(errors)))


def load_or_raise(schema: Schema, data: object, what: str, error: type[Exception]) -> Any:
    """``schema.load(data)``; otherwise ``error`` with one line naming every field."""
    if not isinstance(data, Mapping):
        raise error(f"{what} 应为一个对象")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise error(one_line(f"{what} 有误: ", exc.messages)) from None
