"""Reading a file of hospital settlement records, and checking each row (settlements.py
records them).

The file: CSV (UTF-8 or GB18030, as Excel saves it) or a workbook (.xlsx, .xls, .ods; the
first sheet, read with python-calamine). What it is comes from its first bytes (a zip or an
OLE2 compound file is a workbook), not its name. Its header row (within the first ten rows,
found by title, blanks ignored) names the columns; order is free, other columns are ignored:

    结算单号 (or 结算编号)          settlement_no   required; unique per city, ever
    身份证号码 (or 身份证号)         id_number       required; as text (a number has lost digits)
    姓名                            name            checked against the roster when given
    入院日期                        admission_date  required; YYYY-MM-DD (or a date cell)
    出院日期                        discharge_date
    医疗费总额                      total_cost      yuan, to the fen
    互助结算金额 (or 互助金额)       settled_amount  required; the mutual-aid amount settled
    疾病名称 (or 病种)              disease         for the statistics by disease
    医院 (or 医疗机构)              hospital
    结算日期                        settled_on      defaults to the discharge date

Records sent as a list of dicts use the field names in the middle as keys. A numeric cell's
amount is read as Excel shows it (its shortest decimal form) and must be exact to the fen.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

from services.claims.exceptions import SettlementUnreadable
from services.kernel.idcard import parse_id
from services.kernel.money import MAX_AMOUNT, MoneyError, parse_money


@dataclass(frozen=True)
class Column:
    field: str
    titles: tuple[str, ...]
    required: bool = False


COLUMNS = (
    Column("settlement_no", ("结算单号", "结算编号"), True),
    Column("id_number", ("身份证号码", "身份证号"), True),
    Column("name", ("姓名",)),
    Column("admission_date", ("入院日期",), True),
    Column("discharge_date", ("出院日期",)),
    Column("total_cost", ("医疗费总额",)),
    Column("settled_amount", ("互助结算金额", "互助金额"), True),
    Column("disease", ("疾病名称", "病种")),
    Column("hospital", ("医院", "医疗机构")),
    Column("settled_on", ("结算日期",)),
)
FIELDS = {c.field: c for c in COLUMNS}
HEADER_SEARCH_ROWS = 10
_BLANKS = re.compile(r"\s+")
_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")


@dataclass(frozen=True)
class RowIssue:
    row: int  # as the file numbers it (Excel's row; a list's position from 1)
    column: str  # the column's title
    reason: str

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "reason": self.reason}


# ---- reading -------------------------------------------------------------------------------


def read_file(data: bytes, filename: str) -> list[tuple[int, dict[str, Any]]]:
    """(row number, {field: cell}) for each non-blank row under the header."""
    table = (
        _workbook_rows(data, filename)
        if data[:4] == b"PK\x03\x04" or data[:8] == _OLE2
        else _csv_rows(data, filename)
    )
    header_at, columns = _header(table, filename)
    rows = []
    for number, cells in table[header_at + 1 :]:
        values = {field: cells[i] if i < len(cells) else None for field, i in columns.items()}
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values.values()):
            continue
        rows.append((number, values))
    return rows


def _workbook_rows(data: bytes, filename: str) -> list[tuple[int, list]]:
    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        if sheet.start is None:
            return []
        # iter_rows yields the empty rows above the used range too: the index is Excel's row
        return [(i + 1, list(cells)) for i, cells in enumerate(sheet.iter_rows())]
    except CalamineError:
        raise SettlementUnreadable(
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
        raise SettlementUnreadable(f"{filename}：不是 CSV 文本，也不是 Excel 工作簿")
    if "\x00" in text:
        raise SettlementUnreadable(f"{filename}：不是 CSV 文本，也不是 Excel 工作簿")
    return [(i + 1, row) for i, row in enumerate(csv.reader(io.StringIO(text)))]


def _title(value: object) -> str:
    return _BLANKS.sub("", unicodedata.normalize("NFKC", value)) if isinstance(value, str) else ""


def _header(table: list[tuple[int, list]], filename: str) -> tuple[int, dict[str, int]]:
    wanted = {title: column.field for column in COLUMNS for title in column.titles}
    for at, (_number, cells) in enumerate(table[:HEADER_SEARCH_ROWS]):
        found: dict[str, int] = {}
        for i, cell in enumerate(cells):
            field = wanted.get(_title(cell))
            if field is not None and field not in found:
                found[field] = i
        if all(c.field in found for c in COLUMNS if c.required):
            return at, found
    needed = "、".join(c.titles[0] for c in COLUMNS if c.required)
    raise SettlementUnreadable(
        f"{filename}：前 {HEADER_SEARCH_ROWS} 行中没有找到表头（须含 {needed}）"
    )


# ---- checking ------------------------------------------------------------------------------


class _Bad(ValueError):
    pass


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def _date(value: object) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = unicodedata.normalize("NFKC", str(value)).strip().replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat("-".join(part.zfill(2) for part in text.split("-")))
    except ValueError:
        raise _Bad(f"{value!r} 不是日期，应为 YYYY-MM-DD") from None


def _money(value: object) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        # a numeric cell: Excel keeps a double; its shortest repr is what the clerk typed
        value = repr(value)
    try:
        amount = parse_money(value)
    except MoneyError:
        raise _Bad(f"{value!r} 不是金额") from None
    if amount < 0:
        raise _Bad("金额不能为负")
    if amount > MAX_AMOUNT:  # "1e400" is no hospital's bill, and would not fit the column
        raise _Bad(f"{value} 超过 {MAX_AMOUNT} 元，不是一次住院的金额")
    if amount != amount.quantize(Decimal("0.01")):
        raise _Bad(f"{amount} 元精确到分以下，应保留两位小数")
    return amount


def check_row(number: int, raw: Mapping[str, Any], issues: list[RowIssue]) -> dict[str, Any] | None:
    row: dict[str, Any] = {}
    unknown = set(raw) - set(FIELDS)
    if unknown:
        issues.append(RowIssue(number, "、".join(sorted(unknown)), "不认识的字段（拼写错误？）"))
        return None
    ok = True
    for column in COLUMNS:
        value = raw.get(column.field)
        title = column.titles[0]
        try:
            if column.field == "id_number":
                check = parse_id(value)  # a number is refused: its digits past the 15th are gone
                if not check.valid:
                    raise _Bad("；".join(check.reasons))
                parsed: Any = check.number
            elif column.field.endswith("_date") or column.field == "settled_on":
                parsed = _date(value)
            elif column.field in ("total_cost", "settled_amount"):
                parsed = _money(value)
            else:
                parsed = _text(value)
        except _Bad as exc:
            issues.append(RowIssue(number, title, str(exc)))
            ok = False
            continue
        if parsed is None and column.required:
            issues.append(RowIssue(number, title, "必填"))
            ok = False
        row[column.field] = parsed
    return row if ok else None
