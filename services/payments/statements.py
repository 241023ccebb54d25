"""Reading a bank statement file (reconcile.py imports and matches it).

CSV (UTF-8 or GB18030, as banks' portals and Excel save it) or a workbook (.xlsx, .xls,
.ods; the first sheet, read with python-calamine); which one comes from the first bytes, not
the name. The header row (within the first fifteen rows: portals put the account and period
above it) names the columns by title, blanks ignored; order is free, others are ignored:

    交易日期 / 记账日期 / 日期 / date                       day          required
    金额 / 交易金额 / amount                               amount       signed: in +, out −
      or 贷方金额 / 收入金额 / credit and 借方金额 / 支出金额 / debit
    对方户名 / 对方账户名称 / 对方名称 / counterparty        counterparty
    流水号 / 交易流水号 / 银行流水号 / serial                serial
    摘要 / 附言 / 用途 / 备注 / remark                      remark
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

from services.kernel.money import FEN, MoneyError, parse_money
from services.payments.exceptions import StatementUnreadable

TITLES = {
    "day": ("交易日期", "记账日期", "日期", "date"),
    "amount": ("金额", "交易金额", "amount"),
    "credit": ("贷方金额", "贷方发生额", "收入金额", "收入", "credit"),
    "debit": ("借方金额", "借方发生额", "支出金额", "支出", "debit"),
    "counterparty": ("对方户名", "对方账户名称", "对方名称", "counterparty"),
    "serial": ("流水号", "交易流水号", "银行流水号", "serial"),
    "remark": ("摘要", "附言", "用途", "备注", "remark"),
}
HEADER_SEARCH_ROWS = 15
_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")


@dataclass(frozen=True)
class StatementRow:
    source_row: int  # as the file numbers it (Excel's row; the CSV's line)
    day: date
    amount: Decimal  # signed: money in +, out −
    counterparty: str | None
    serial: str | None
    remark: str | None


def read_statement(data: bytes, filename: str) -> list[StatementRow]:
    table = (
        _workbook_rows(data, filename)
        if data[:4] == b"PK\x03\x04" or data[:8] == _OLE2
        else _csv_rows(data, filename)
    )
    header_at, columns = _header(table, filename)
    rows = []
    for number, cells in table[header_at + 1 :]:
        values = {name: cells[i] if i < len(cells) else None for name, i in columns.items()}
        if all(_blank(v) for v in values.values()):
            continue
        rows.append(_row(number, values, filename))
    return rows


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _title(value: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value or ""))).casefold()


def _header(table: list[tuple[int, list]], filename: str) -> tuple[int, dict[str, int]]:
    wanted = {name: {_title(t) for t in titles} for name, titles in TITLES.items()}
    for index, (_, cells) in enumerate(table[:HEADER_SEARCH_ROWS]):
        columns: dict[str, int] = {}
        for position, cell in enumerate(cells):
            title = _title(cell)
            for name, titles in wanted.items():
                if title in titles and name not in columns:
                    columns[name] = position
        if "day" in columns and ("amount" in columns or {"credit", "debit"} & set(columns)):
            return index, columns
    raise StatementUnreadable(
        f"{filename}：前 {HEADER_SEARCH_ROWS} 行中找不到表头（需要「交易日期」和「金额」或「贷方金额/借方金额」列）"
    )


def _row(number: int, values: dict[str, Any], filename: str) -> StatementRow:
    where = f"{filename} 第 {number} 行"
    day = _day(values.get("day"), where)
    if "amount" in values:
        amount = _amount(values["amount"], where, "金额")
    else:
        credit = _amount(values.get("credit"), where, "贷方金额", blank_zero=True)
        debit = _amount(values.get("debit"), where, "借方金额", blank_zero=True)
        amount = credit - debit
    return StatementRow(
        source_row=number,
        day=day,
        amount=amount,
        counterparty=_text(values.get("counterparty")),
        serial=_text(values.get("serial")),
        remark=_text(values.get("remark")),
    )


def _day(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    for pattern in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y-%m-%d %H:%M:%S", "%Y.%m.%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise StatementUnreadable(f"{where}：交易日期 {text[:20]!r} 不是日期（如 2024-03-01）")


def _amount(value: Any, where: str, title: str, *, blank_zero: bool = False) -> Decimal:
    if _blank(value):
        if blank_zero:
            return Decimal("0.00")
        raise StatementUnreadable(f"{where}：{title}为空")
    if isinstance(value, float):
        value = repr(value)  # a workbook's number as Excel shows it (its shortest form)
    try:
        amount = parse_money(value, name=title)
    except MoneyError:
        raise StatementUnreadable(f"{where}：{title} {str(value)[:20]!r} 不是金额") from None
    if amount != amount.quantize(FEN):
        raise StatementUnreadable(f"{where}：{title} {value} 不是精确到分的金额")
    return amount.quantize(FEN)


def _text(value: Any) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a serial typed as a number
    return str(value).strip()[:300]


def _workbook_rows(data: bytes, filename: str) -> list[tuple[int, list]]:
    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        if sheet.start is None:
            return []
        # iter_rows yields the empty rows above the used range too: the index is Excel's row
        return [(i + 1, list(cells)) for i, cells in enumerate(sheet.iter_rows())]
    except CalamineError:
        raise StatementUnreadable(
            f"{filename}：无法作为 Excel 工作簿打开（已加密、已损坏或不是工作簿）"
        ) from None


def _csv_rows(data: bytes, filename: str) -> list[tuple[int, list]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise StatementUnreadable(f"{filename}：不是 CSV 文本，也不是 Excel 工作簿")
    if "\x00" in text:
        raise StatementUnreadable(f"{filename}：不是 CSV 文本，也不是 Excel 工作簿")
    return [(i + 1, row) for i, row in enumerate(csv.reader(io.StringIO(text)))]
