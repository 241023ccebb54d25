"""The shared boundary schema: Chinese messages once, text the database can hold, amounts as
plain decimal strings of two places within money.MAX_AMOUNT."""

from __future__ import annotations

from decimal import Decimal

import pytest
from marshmallow import ValidationError, fields

from services.kernel.schemas import Amount, Length, OneOf, Range, Strict, Text, one_line


class Sample(Strict):
    name = Text(10, required=True)
    remark = Text(50, multiline=True)
    count = fields.Integer(strict=True, validate=Range(min=0, max=5))
    day = fields.Date()
    kind = fields.String(validate=OneOf(("a", "b")))
    code = fields.String(validate=Length(min=2, max=3))
    amount = Amount()
    tags = fields.List(Text(5))


def errors(**data) -> dict:
    with pytest.raises(ValidationError) as raised:
        Sample().load(data)
    return raised.value.messages


def test_every_message_is_chinese():
    found = errors(count="x", day="2024-02-30", kind="c", code="abcd", tags=[1], extra=1)
    assert found == {
        "name": ["必填"],
        "count": ["应为整数"],
        "day": ["应为日期（YYYY-MM-DD）"],
        "kind": ["应为 a, b 之一"],
        "code": ["应为 2 到 3 个字符"],
        "tags": {0: ["应为文字"]},
        "extra": ["不认识的字段（拼写错误？）"],
    }
    assert errors(name="n", count=6)["count"] == ["应不小于 0 且不大于 5"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\x00b", "含有不可见的控制字符（U+0000）"),
        ("a\x1bb", "含有不可见的控制字符（U+001B）"),
        ("   ", "不能为空白"),
        ("一二三四五六七八九十一", "最多 10 个字符，填写了 11 个"),
    ],
)
def test_text_refuses_control_characters_blanks_and_overlong(value, message):
    assert errors(name=value)["name"] == [message]


def test_line_breaks_only_in_multiline_text():
    assert (
        Sample().load({"name": "张三", "remark": "第一行\n第二行\t"})["remark"]
        == "第一行\n第二行\t"
    )
    assert "控制字符" in errors(name="张\n三")["name"][0]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1e400", "普通的小数写法"),
        ("NaN", "普通的小数写法"),
        ("Infinity", "普通的小数写法"),
        (7000.5, "小数字符串"),
        ("0.001", "最多 2 位小数"),
        ("9999999999999.99", "不能超过 99999999.99"),
        ("100000000", "不能超过 99999999.99"),
        ("-1", "不能为负"),
    ],
)
def test_amounts_are_plain_decimals_of_two_places_within_the_bound(value, why):
    assert why in errors(name="n", amount=value)["amount"][0]


@pytest.mark.parametrize(
    ("value", "amount"),
    [("99999999.99", "99999999.99"), ("7,000.50", "7000.50"), (7000, "7000"), ("0", "0")],
)
def test_amounts_within_the_bound_are_read_exactly(value, amount):
    assert Sample().load({"name": "n", "amount": value})["amount"] == Decimal(amount)


def test_one_line_names_each_field_nested_too():
    line = one_line("有误: ", {"b": ["必填"], "a": {"x": ["应为整数"]}, "c": {0: ["应为文字"]}})
    assert line == "有误: a.x: 应为整数; b: 必填; c.0: 应为文字"
