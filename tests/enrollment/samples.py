"""Made-up people with valid resident IDs, and roster formats built here rather than read from
the plugins still being written (Quzhou, Wujin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from services.kernel.idcard import check_digit
from services.kernel.policy import RosterColumn, RosterFormat

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


@dataclass(frozen=True)
class Person:
    name: str
    sex: str  # 男 / 女, agreeing with the ID
    id_number: str
    phone: str


def person(i: int) -> Person:
    """The i-th made-up person: a valid resident ID (Beijing 西城, born 1960-2009), unique
    for i below nine million, men and women alternating."""
    born = date(1960, 1, 1) + timedelta(days=i % 18000)
    first17 = f"110102{born:%Y%m%d}{i // 18000 * 2 + i % 2:03d}"
    number = first17 + check_digit(first17)
    name = _SURNAMES[i % 20] + _GIVEN[(i // 20) % 20] + _GIVEN[(i // 400) % 20]
    return Person(name, "男" if int(number[16]) % 2 else "女", number, f"139{i:08d}")


def bad_check_digit(number: str) -> str:
    wrong = "0" if number[17] != "0" else "1"
    return number[:17] + wrong


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


QUZHOU = RosterFormat(
    sheet="Sheet2",
    title="衢州市职工医疗互助保障参保职工名册",
    application_sheet="Sheet1",
    unit_key="医保编码",
    columns=(
        RosterColumn("seq", ("序号",)),
        RosterColumn("name", ("姓名",), True),
        RosterColumn("sex", ("性别",)),
        RosterColumn("id_number", ("身份证号码", "身份证号"), True),
        RosterColumn("phone", ("手机号码",)),
        RosterColumn("remark", ("备注",)),
    ),
)

WUJIN = RosterFormat(
    sheet="授权签字汇总表",
    title="2024年武进区在职职工医疗互助保障参保职工授权签字汇总表",
    unit_key="申请单位工会",
    columns=(
        RosterColumn("seq", ("序号",)),
        RosterColumn("town", ("乡镇",)),
        RosterColumn("name", ("姓名",), True),
        RosterColumn("id_number", ("身份证号码", "身份证号"), True),
        RosterColumn("phone", ("手机号码", "手机号")),
        RosterColumn("workplace", ("工作单位",)),
        RosterColumn("card_number", ("工会卡卡号", "工会卡号"), True),
        RosterColumn(
            "signature",
            ("签字", "签字（自愿同意参加武进区在职职工医疗互助保障，并同意缴纳参保资金20元）"),
        ),
    ),
)

QUZHOU_HEADER = ["序号", "姓名", "性别", "身份证号码", "手机号码", "备注"]


def quzhou_rows(people: list[Person]) -> list[list]:
    """Sheet2 as the seed's attachment 2: title, 填表日期, header, then the people."""
    rows: list[list] = [["衢州市职工医疗互助保障参保职工名册"], ["填表日期："], QUZHOU_HEADER]
    for i, p in enumerate(people, start=1):
        rows.append([i, p.name, p.sex, p.id_number, p.phone, ""])
    return rows


class StubPolicy:
    """Just what write_template asks of a city: name, roster format, districts, quote."""

    def __init__(self, name: str, fmt: RosterFormat, price: str = "50"):
        self.code, self.name, self.fmt, self.price = "stub", name, fmt, Decimal(price)

    def roster_format(self, year: int) -> RosterFormat:
        return self.fmt

    def districts(self, year: int) -> list:
        return []

    def quote(self, year, unit):
        return type("Quote", (), {"price": self.price})()
