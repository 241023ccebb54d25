"""Reading Sheet1, the group application (团体申请表), from the same workbook as the roster.

The seeds' attachment 1 (Quzhou, Jiangshan) and Zhangjiakou's form are grids of label cells
each followed by its value: 单位医保编码 | 33080001 | 所属系统 | … . Clerks fill our template,
the seeds' form or their own copy of it, so nothing is found by position: each label is
looked for by its text (blanks ignored, full-width normalised and a trailing colon dropped,
as roster.py's ``normalise_title`` compares titles) anywhere in the top APPLICATION_ROWS rows
and APPLICATION_COLS columns, and its value is the next non-empty cell to its right (a merged
label or value keeps its text in its top-left cell, the rest of it reads as empty). A cell
that is itself a label, a remark column of the form (所在单位意见, 年 月 日) or a bare unit
(人, 元) is not a value: the field was left empty. ``单位医保编码：33080001`` in one cell
counts too.

The seeds' 填表说明 says "在职职工参加人数和名册中人数必须一致": the participants declared here
must equal the roster's rows; ``mismatch`` words that error. Counts and amounts are read
exactly: a count must be a whole number, an amount a Decimal with at most two decimals,
taken from the cell's text or, for a number, from ``str(value)`` (never float arithmetic).
A value present but malformed is left ``None`` with an Issue saying why.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from python_calamine import CalamineError, CalamineWorkbook

from services.enrollment.roster import (
    Issue,
    RosterUnreadable,
    load_source,
    normalise_title,
    sheet_rows,
)
from services.enrollment.workbook import open_workbook
from services.kernel.policy import RosterFormat

__all__ = [
    "APPLICATION_COLS",
    "APPLICATION_ROWS",
    "ApplicationSheet",
    "application_sheet_name",
    "label_of",
    "mismatch",
    "read_application_sheet",
    "unit_key_label",
]

APPLICATION_ROWS = 30  # labels are looked for in this many rows at the top of Sheet1
APPLICATION_COLS = 20  # … and this many columns from A

TEXT, COUNT, MONEY = "text", "count", "money"
# field -> (kind, labels as normalise_label gives them; the first is the one issues name)
_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    # unit_key's labels come from the format (单位医保编码 / 单位社保编码 / 单位编码)
    "system": (TEXT, ("所属系统",)),
    "union": (TEXT, ("单位工会", "单位工会名称", "工会名称", "单位名称", "单位名称(全称)")),
    "address": (TEXT, ("单位地址", "详细地址", "地址")),
    "nature": (TEXT, ("单位性质",)),
    "chair": (TEXT, ("工会主席", "工会主席姓名")),
    "phones": (TEXT, ("联系电话", "电话")),
    "staff_total": (COUNT, ("在职职工总人数", "单位总人数", "职工总人数", "在职职工人数")),
    "staff_insured": (COUNT, ("参加职工医保人数", "参加医保人数", "职工医保人数")),
    "participants": (COUNT, ("参加医疗互助人数", "参与职工人数", "参加互助人数", "参加人数")),
    "price": (MONEY, ("交款金额(元/人)", "交款金额", "缴费标准", "缴费标准(元/人)")),
    # the seed's form: 交款总额 merged over two rows, then 小写 | value and 大写 | value
    "total": (
        MONEY,
        ("交款总额(小写)", "交款总额小写", "缴款总额(小写)", "小写", "交款总额", "缴款总额"),
    ),
    "total_capitals": (TEXT, ("交款总额(大写)", "交款总额大写", "缴款总额(大写)", "大写")),
}
# Cells of the forms that are not values of the label before them.
_NOT_VALUES = frozenset(
    normalise_title(t)
    for t in (
        "所在单位意见",
        "审核单位意见",
        "(签章)",
        "签章",
        "年月日",
        "日期",
        "附件共",
        "张",
        "电子文档(份)",
        "电子文档",
        "参与率",
        "经办人",
        "填表说明",
        "人",
        "元",
        "%",
        "份",
        "元/人",
        "元/人/期",
        "元/人/年",
    )
)
_COLON = re.compile(r"[:：]")
_COUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:人)?")
_MONEY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:元.*)?")
_LOSSY = 1e15  # a number this large held more digits than a spreadsheet keeps (15)


@dataclass(frozen=True)
class ApplicationSheet:
    """Sheet1 as filled in; a field the form leaves empty (or fills wrongly) is None."""

    sheet: str  # the sheet's name in the workbook
    unit_key: str | None = None
    system: str | None = None  # 所属系统
    union: str | None = None  # 单位工会 (Zhangjiakou: 单位名称)
    address: str | None = None
    nature: str | None = None  # 单位性质, the label as written (民营企业 …)
    chair: str | None = None  # 工会主席
    phones: tuple[str, ...] = ()  # every 联系电话, top to bottom, left to right
    staff_total: int | None = None  # 在职职工总人数
    staff_insured: int | None = None  # 参加职工医保人数
    participants: int | None = None  # 参加医疗互助人数
    price: Decimal | None = None  # 交款金额（元/人）
    total: Decimal | None = None  # 交款总额（小写）
    total_capitals: str | None = None  # 交款总额（大写）
    # field -> (Excel row, Excel column) of the value read (the first one for phones)
    cells: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    issues: tuple[Issue, ...] = ()  # values present but malformed; their field is None

    def issues_on(self, *names: str) -> tuple[Issue, ...]:
        """The issues about these fields' values."""
        wanted = {self.cells[n] for n in names if n in self.cells}
        return tuple(i for i in self.issues if (i.row, i.col) in wanted)

    def figures(self) -> dict[str, int]:
        """The counts the application stores, as declared here (only those filled in)."""
        found = {
            "participants": self.participants,
            "staff_total": self.staff_total,
            "staff_insured": self.staff_insured,
        }
        return {k: v for k, v in found.items() if v is not None}


def unit_key_label(key: str) -> str:
    """The form's label for the unit key: 医保编码 -> 单位医保编码, 单位编码 stays."""
    return key if key.startswith("单位") else f"单位{key}"


def label_of(name: str, fmt: RosterFormat) -> str:
    """The label an issue about ``name`` names (参加医疗互助人数, 单位医保编码 …)."""
    if name == "unit_key":
        return unit_key_label(fmt.unit_key)
    return _FIELDS[name][1][0]


def application_sheet_name(book: CalamineWorkbook, fmt: RosterFormat) -> str | None:
    """The workbook's name for the format's application sheet, or None (none asked, none there)."""
    if not fmt.application_sheet:
        return None
    wanted = normalise_title(fmt.application_sheet).casefold()
    for name in book.sheet_names:
        if normalise_title(name).casefold() == wanted:
            return name
    return None


def read_application_sheet(
    book_or_bytes: CalamineWorkbook | bytes | str | os.PathLike,
    filename: str | None,
    fmt: RosterFormat,
) -> ApplicationSheet | None:
    """Sheet1's fields, or None when the format has no application sheet or the file lacks it.

    ``book_or_bytes`` is a workbook already opened (the roster's upload, read once) or the
    file's bytes or path. Raises RosterUnreadable when the file or the sheet cannot be read.
    """
    if isinstance(book_or_bytes, CalamineWorkbook):
        book, filename = book_or_bytes, filename or "名册"
    else:
        data, filename = load_source(book_or_bytes, filename)
        book = open_workbook(data, filename)
    name = application_sheet_name(book, fmt)
    if name is None:
        return None
    try:
        grid = _grid(book.get_sheet_by_name(name))
    except CalamineError:
        raise RosterUnreadable(
            f"{filename}：工作表「{name}」已损坏，无法读取；请重新保存后再上传"
        ) from None
    return _read(grid, name, fmt)


def mismatch(form: ApplicationSheet, roster_rows: int, detail: str = "") -> Issue | None:
    """The error when Sheet1's participants differ from the roster's rows (None if they agree
    or Sheet1 declares none). ``detail`` explains the roster's figure, e.g. for joiners."""
    if form.participants is None or form.participants == roster_rows:
        return None
    row, col = form.cells["participants"]
    reason = (
        f"申请表参加医疗互助人数 {form.participants} 人，名册 {roster_rows} 人{detail}，"
        "两者必须一致"
    )
    return Issue(row, _FIELDS["participants"][1][0], reason, col, sheet=form.sheet)


# -- reading the grid ---------------------------------------------------------------------------


def _grid(sheet) -> list[tuple[int, list[tuple[int, object]]]]:
    """The top-left of the sheet: (Excel row, [(Excel column, value) for non-empty cells])."""
    grid = []
    for excel_row, first_col, cells in sheet_rows(sheet):
        if excel_row > APPLICATION_ROWS:
            break
        filled = [
            (first_col + i, value)
            for i, value in enumerate(cells[: max(APPLICATION_COLS - first_col + 1, 0)])
            if not _blank(value)
        ]
        if filled:
            grid.append((excel_row, filled))
    return grid


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def normalise_label(value: object) -> str:
    """A cell as compared with the labels: normalise_title's form, without a trailing colon."""
    return normalise_title(value).rstrip(":")


def _labels(fmt: RosterFormat) -> dict[str, str]:
    labels = {}
    for name, (_kind, texts) in _FIELDS.items():
        for text in texts:
            labels.setdefault(normalise_label(text), name)
    for text in (unit_key_label(fmt.unit_key), fmt.unit_key):
        labels[normalise_label(text)] = "unit_key"
    return labels


def _inline(value: object, labels: Mapping[str, str]) -> tuple[str, str] | None:
    """``单位医保编码：33080001`` in one cell: (field, the text after the colon)."""
    if not isinstance(value, str):
        return None
    parts = _COLON.split(value, maxsplit=1)
    if len(parts) != 2 or not parts[1].strip():
        return None
    head = normalise_label(parts[0])
    for label, name in labels.items():
        # the label may end a longer text: 团体申请表(第17期)单位编码：cs002
        if head == label or (len(label) >= 4 and head.endswith(label)):
            return name, parts[1].strip()
    return None


def _read(grid, sheet: str, fmt: RosterFormat) -> ApplicationSheet:
    labels = _labels(fmt)

    def is_label(value: object) -> bool:
        text = normalise_title(value)
        return bool(text) and (
            text.endswith(":")
            or text.rstrip(":") in labels
            or text in _NOT_VALUES
            or _inline(value, labels) is not None
        )

    found: dict[str, list[tuple[int, int, object]]] = {}  # field -> [(row, col, raw value)]
    for excel_row, cells in grid:
        for index, (_col, value) in enumerate(cells):
            name = labels.get(normalise_label(value))
            if name is not None:
                following = cells[index + 1] if index + 1 < len(cells) else None
                if following is not None and not is_label(following[1]):
                    found.setdefault(name, []).append((excel_row, following[0], following[1]))
                continue
            inline = _inline(value, labels)
            if inline is not None:
                found.setdefault(inline[0], []).append((excel_row, _col, inline[1]))

    values: dict[str, object] = {}
    cells: dict[str, tuple[int, int]] = {}
    issues: list[Issue] = []
    for name, occurrences in found.items():
        row, col, raw = occurrences[0]
        cells[name] = (row, col)
        if name == "phones":
            phones = []
            for _row, _col, value in occurrences:
                text = _text(value, name)
                if isinstance(text, _Refusal):
                    issues.append(Issue(_row, "联系电话", f"联系电话{text.reason}", _col, sheet))
                else:
                    phones.append(text)
            values[name] = tuple(phones)
            continue
        kind = "text" if name == "unit_key" else _FIELDS[name][0]
        parse = {TEXT: _text, COUNT: _count, MONEY: _money}[kind]
        parsed = parse(raw, name)
        if isinstance(parsed, _Refusal):
            label = label_of(name, fmt)
            issues.append(Issue(row, label, f"{label}{parsed.reason}", col, sheet))
        else:
            values[name] = parsed
    issues.sort(key=lambda i: (i.row, i.col))
    return ApplicationSheet(
        sheet=sheet, cells=MappingProxyType(cells), issues=tuple(issues), **values
    )


# -- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Refusal:
    reason: str  # follows the label: 参加医疗互助人数应为整数 …


def _shown(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text(value: object, name: str) -> str | _Refusal:
    if isinstance(value, str):
        text = value.strip()
        # codes and phone numbers: full-width digits typed in a Chinese input method
        return unicodedata.normalize("NFKC", text) if name in ("unit_key", "phones") else text
    if isinstance(value, bool):
        return _Refusal(f"应填文字，填写的是 {'TRUE' if value else 'FALSE'}")
    if isinstance(value, int | float):
        if abs(value) >= _LOSSY:
            return _Refusal("被存成了数字，第15位以后的数字已丢失；请把该单元格设为文本后重新录入")
        return _shown(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _number(value: object, pattern: re.Pattern) -> Decimal | _Refusal:
    """A cell's number exactly: a float through its shortest repr, text without 人/元/commas."""
    if isinstance(value, bool):
        return _Refusal(f"应填数字，填写的是 {'TRUE' if value else 'FALSE'}")
    if isinstance(value, datetime | date | time):
        return _Refusal(
            f"应填数字，填写的是日期 {value.isoformat()}（请把单元格格式改为常规或数值）"
        )
    if isinstance(value, int | float):
        text = str(value)
    else:
        text = normalise_title(str(value)).replace(",", "").lstrip("¥")
        match = pattern.fullmatch(text)
        if match is None:
            return _Refusal(f"应填数字，填写的是“{str(value).strip()}”")
        text = match.group(1) if match.groups() else match.group(0).rstrip("人")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return _Refusal(f"应填数字，填写的是“{_shown(value)}”")
    if not number.is_finite():
        return _Refusal(f"应填数字，填写的是“{_shown(value)}”")
    if number < 0:
        return _Refusal(f"不能是负数，填写的是 {_shown(value)}")
    return number


def _count(value: object, name: str) -> int | _Refusal:
    number = _number(value, _COUNT)
    if isinstance(number, _Refusal):
        return number
    if number != number.to_integral_value():
        return _Refusal(f"应为整数（人数），填写的是 {_shown(value)}")
    return int(number)


def _money(value: object, name: str) -> Decimal | _Refusal:
    number = _number(value, _MONEY)
    if isinstance(number, _Refusal):
        return number
    if number.as_tuple().exponent < -2 and number != number.quantize(Decimal("0.01")):
        return _Refusal(f"金额最多两位小数（到分），填写的是 {_shown(value)}")
    return number.quantize(Decimal("0.01"))
