"""A city's blank enrolment workbook, as the seeds' attachments lay it out.

Quzhou and Jiangshan ask for one Excel file holding Sheet1 (申请表, the group application)
and Sheet2 (参保职工名册); Zhangjiakou's system has the same two forms (团体申请表, 人员名册);
Wujin has only its 授权签字汇总表. The roster sheet gets the format's title row merged across,
its header row, and numbered rows whose ID, phone and card cells are already text ("@"):
the seeds' 填表说明 "身份证为文本类型" is the one mistake a template can prevent, since a
typed-in ID stored as a number loses its last three digits.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from services.enrollment.application_sheet import unit_key_label
from services.kernel.errors import PolicyError
from services.kernel.policy import CityPolicy, RosterFormat, Unit

TEMPLATE_ROWS = 1000
HEADER_ROW = 3  # row 1 the title, row 2 填表单位 / 填表日期
TEXT = "@"
TEXT_FIELDS = ("id_number", "phone", "card_number")
_WIDTHS = {
    "seq": 6,
    "name": 12,
    "sex": 6,
    "id_number": 22,
    "phone": 15,
    "town": 14,
    "workplace": 26,
    "card_number": 22,
    "signature": 16,
    "insured": 14,
    "remark": 16,
}
_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
_HEADER_FILL = PatternFill("solid", fgColor="D9D9D9")


def write_template(
    policy: CityPolicy, year: int, path: str | os.PathLike, rows: int = TEMPLATE_ROWS
) -> Path:
    """Write ``policy``'s blank workbook for ``year`` to ``path`` (.xlsx) and return the path."""
    fmt = policy.roster_format(year)
    book = Workbook()
    if fmt.application_sheet:
        _application(book.active, policy, year, fmt)
        roster = book.create_sheet(fmt.sheet)
    else:
        roster = book.active
        roster.title = fmt.sheet
    _roster(roster, fmt, rows)
    target = Path(path)
    book.save(target)
    return target


def default_name(policy: CityPolicy, year: int) -> str:
    """The seeds name files <单位名称><年度>.xls; a blank template is named for the city."""
    return f"{policy.name}{year}.xlsx"


def _roster(sheet, fmt: RosterFormat, rows: int) -> None:
    width = len(fmt.columns)
    last = get_column_letter(width)
    sheet.merge_cells(f"A1:{last}1")
    sheet["A1"] = fmt.title
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = _CENTRE
    sheet.row_dimensions[1].height = 30
    # Wujin's form has no Sheet1: its header line names the applying union (申请单位工会)
    signer = "填表单位" if fmt.application_sheet else fmt.unit_key
    sheet["A2"] = f"{signer}（盖章）："
    sheet.cell(2, max(width - 1, 2), "填表日期：")
    for col, column in enumerate(fmt.columns, start=1):
        cell = sheet.cell(HEADER_ROW, col, column.titles[0])
        cell.font = Font(bold=True)
        cell.alignment = _CENTRE
        cell.border = _BOX
        cell.fill = _HEADER_FILL
        sheet.column_dimensions[get_column_letter(col)].width = _WIDTHS.get(column.field, 14)
    first, end = HEADER_ROW + 1, HEADER_ROW + rows
    for row in range(first, end + 1):
        for col, column in enumerate(fmt.columns, start=1):
            cell = sheet.cell(row, col)
            cell.border = _BOX
            if column.field == "seq":
                cell.value = row - HEADER_ROW
            elif column.field in TEXT_FIELDS:
                cell.number_format = TEXT
    for col, column in enumerate(fmt.columns, start=1):
        letter = get_column_letter(col)
        if column.field == "sex":
            check = DataValidation(type="list", formula1='"男,女"', allow_blank=True)
            check.error = "性别请选“男”或“女”"
        elif column.field == "id_number":
            check = DataValidation(
                type="textLength", operator="equal", formula1="18", allow_blank=True
            )
            check.error = "身份证号码应为18位（末位可以是X）"
        else:
            continue
        check.showErrorMessage = True
        check.add(f"{letter}{first}:{letter}{end}")
        sheet.add_data_validation(check)
    sheet.freeze_panes = f"A{first}"
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"


def _application(sheet, policy: CityPolicy, year: int, fmt: RosterFormat) -> None:
    """Sheet1: the group application (团体申请表) laid out as the seeds' attachment 1."""
    sheet.title = fmt.application_sheet
    sheet.merge_cells("A1:D1")
    sheet["A1"] = f"{policy.name}职工医疗互助活动申请表（{year}年度）"
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = _CENTRE
    sheet.row_dimensions[1].height = 30
    lines = (
        (unit_key_label(fmt.unit_key), "所属系统"),
        ("单位工会", "联系电话"),
        ("单位地址", "单位性质"),
        ("工会主席", "联系电话"),
        ("在职职工总人数", "参加职工医保人数"),
        ("参加医疗互助人数", "交款金额（元/人）"),
        ("交款总额（小写）", "交款总额（大写）"),
    )
    for row, (left, right) in enumerate(lines, start=2):
        for col, label in ((1, left), (3, right)):
            cell = sheet.cell(row, col, label)
            cell.font = Font(bold=True)
            cell.border = _BOX
            cell.alignment = _CENTRE
            sheet.cell(row, col + 1).border = _BOX
    sheet["B2"].number_format = TEXT  # the unit code keeps its leading zeros
    sheet["B3"].number_format = sheet["D3"].number_format = sheet["D5"].number_format = TEXT
    price = _price(policy, year)
    if price is not None:
        sheet["D7"] = price
        sheet["D7"].number_format = "0.00"
    sheet["B8"] = '=IF(OR(B7="",D7=""),"",B7*D7)'
    sheet["B8"].number_format = "0.00"
    notes = (
        "填表说明：",
        f"1）参加医疗互助人数必须和名册（工作表「{fmt.sheet}」）中的人数一致。",
        "2）身份证号码为文本类型，不要出现其他类型或全角字符。",
        f"3）文件名以本单位的名称+年度为准，如 某某单位工会{year}.xls；"
        f"联合工会为 联合工会名称（单位名称）{year}.xls。",
    )
    for row, text in enumerate(notes, start=10):
        sheet.cell(row, 1, text)
    for letter, width in zip("ABCD", (20, 30, 20, 30), strict=True):
        sheet.column_dimensions[letter].width = width


def _price(policy: CityPolicy, year: int) -> Decimal | None:
    """The city's list price per person, from its own quote (preferential units pay less)."""
    districts = policy.districts(year)
    unit = Unit(name="", participants=1, district=districts[0].code if districts else None)
    try:
        return policy.quote(year, unit).price
    except PolicyError:
        return None
