"""Fictional people and their rosters as the cities' Excel files lay them out.

ID numbers are made up (area 110102, a birth date, a sequence) with the check digit computed by
the kernel, so they pass every check and belong to nobody. Phones are 139 + the index, cards
6222 0202 + the index: the bank simulator knows them by these numbers alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

from services.kernel.idcard import check_digit
from services.kernel.policy import RosterFormat

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
HEADER_ROW = 3  # title, the signer's line, then the column titles (the template's layout)


@dataclass(frozen=True)
class Person:
    name: str
    sex: str  # 男 / 女, agreeing with the ID
    id_number: str
    phone: str
    card: str


def person(i: int) -> Person:
    """The i-th fictional person; distinct IDs for i below 7 000 000 (14 000 birth dates, 37
    apart so neighbours differ, times 500 sequence numbers of each sex)."""
    born = date(1965, 1, 1) + timedelta(days=(i * 37) % 14000)
    first17 = f"110102{born:%Y%m%d}{i // 14000 % 500 * 2 + i % 2:03d}"
    number = first17 + check_digit(first17)
    name = _SURNAMES[i % 20] + _GIVEN[(i // 20) % 20] + _GIVEN[(i // 400 + i) % 20]
    sex = "男" if int(number[16]) % 2 else "女"
    return Person(name, sex, number, f"139{i:08d}", f"62220202{i:011d}")


def with_bad_check_digit(p: Person) -> Person:
    """The same person with the ID's last character mistyped (the roster error the demo fixes)."""
    wrong = "0" if p.id_number[17] != "0" else "1"
    return Person(p.name, p.sex, p.id_number[:17] + wrong, p.phone, p.card)


def _cell(field: str, seq: int, p: Person, unit_name: str) -> object:
    values = {
        "seq": seq,
        "name": p.name,
        "sex": p.sex,
        "id_number": p.id_number,
        "phone": p.phone,
        "card_number": p.card,
        "insured": "是",
        "remark": "在职",
        "workplace": unit_name,
        "signature": p.name,
    }
    return values.get(field, "")


def roster_xlsx(fmt: RosterFormat, people: list[Person], unit_name: str) -> bytes:
    """The city's roster sheet filled in (the ID column as text, as the template asks)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = fmt.sheet
    sheet.cell(1, 1, fmt.title)
    sheet.cell(2, 1, f"填表单位（盖章）：{unit_name}")
    for col, column in enumerate(fmt.columns, start=1):
        sheet.cell(HEADER_ROW, col, column.titles[0])
    for seq, p in enumerate(people, start=1):
        for col, column in enumerate(fmt.columns, start=1):
            cell = sheet.cell(HEADER_ROW + seq, col, _cell(column.field, seq, p, unit_name))
            cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
