"""The error report: the clerk's own sheet back, bad cells red, a reason beside each bad row."""

from __future__ import annotations

import json

import openpyxl
import pytest

from services.enrollment.report import (
    ERROR_FILL,
    REASON_TITLE,
    WARNING_FILL,
    report_data,
    write_report,
)
from services.enrollment.roster import read_roster
from tests.enrollment.files import xls_bytes, xlsx_bytes
from tests.enrollment.samples import QUZHOU, QUZHOU_HEADER, Person, full_width, person, quzhou_rows


def _fill(cell) -> str | None:
    return cell.fill.fgColor.rgb if cell.fill and cell.fill.fill_type == "solid" else None


@pytest.fixture(scope="module")
def faulty_report(faulty_roster, zjk_format, tmp_path_factory):
    def elsewhere(ids):
        return {faulty_roster.enrolled_id: "某某公司工会"}

    result = read_roster(faulty_roster.data, "名册.xlsx", zjk_format, elsewhere)
    path = write_report(faulty_roster.data, result, tmp_path_factory.mktemp("r") / "错误报告.xlsx")
    return result, openpyxl.load_workbook(path)


def test_bad_cells_are_red_and_nothing_else_is(faulty_report, faulty_roster):
    result, book = faulty_report
    sheet = book["人员名册"]
    id_col = next(c.col for c in result.columns if c.field == "id_number")
    bad_rows = {
        faulty_roster.numeric_row,
        faulty_roster.check_digit_row,
        faulty_roster.duplicate_row,
        faulty_roster.enrolled_row,
    }
    red = {
        (cell.row, cell.column)
        for row in sheet.iter_rows()
        for cell in row
        if _fill(cell) == ERROR_FILL.fgColor.rgb
    }
    assert red == {(r, id_col) for r in bad_rows}


def test_a_reason_column_beside_each_bad_row_only(faulty_report, faulty_roster):
    result, book = faulty_report
    sheet = book["人员名册"]
    reason_col = max(c.col for c in result.columns) + 1
    assert sheet.cell(result.header_row, reason_col).value == REASON_TITLE
    reasons = {
        row: sheet.cell(row, reason_col).value
        for row in range(result.header_row + 1, sheet.max_row + 1)
        if sheet.cell(row, reason_col).value
    }
    assert set(reasons) == {
        faulty_roster.numeric_row,
        faulty_roster.check_digit_row,
        faulty_roster.duplicate_row,
        faulty_roster.enrolled_row,
    }
    assert "存成了数字" in reasons[faulty_roster.numeric_row]
    assert f"第{faulty_roster.duplicate_of}行重复" in reasons[faulty_roster.duplicate_row]
    assert "某某公司工会" in reasons[faulty_roster.enrolled_row]


def test_the_uploaded_values_come_back_at_the_same_rows(faulty_report, faulty_roster, five_hundred):
    result, book = faulty_report
    sheet = book["人员名册"]
    assert sheet["A1"].value == "张家口市职工医疗互助活动人员名册"
    assert [c.value for c in sheet[3]][:7] == [
        "序号",
        "姓名",
        "性别",
        "身份证号",
        "是否享受医保",
        "备注",
        "联系电话",
    ]
    assert sheet["B4"].value == five_hundred[0].name
    assert sheet["D5"].value == five_hundred[1].id_number  # still text
    assert isinstance(sheet.cell(faulty_roster.numeric_row, 4).value, int | float)


def test_the_issue_list_sheet(faulty_report):
    result, book = faulty_report
    sheet = book["错误清单"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (e.row, f"D{e.row}", "身份证号", "错误") for e in result.errors
    ]


def test_report_data_is_the_same_as_json(faulty_report, faulty_roster):
    result, _book = faulty_report
    data = json.loads(json.dumps(report_data(result), ensure_ascii=False))
    assert data["importable"] is False and data["rows"] == 500
    assert [(e["row"], e["cell"]) for e in data["errors"]] == [
        (e.row, f"D{e.row}") for e in result.errors
    ]
    assert set(data["errors"][0]) == {"row", "column", "reason", "cell"}


def test_warnings_are_yellow_and_marked(tmp_path):
    p = person(1)
    wide = Person(p.name, p.sex, full_width(p.id_number), p.phone)
    rows = quzhou_rows([person(0), wide])
    rows[3][4] = "139"  # an error on row 4 as well
    data = xlsx_bytes({"Sheet2": rows})
    result = read_roster(data, "x.xlsx", QUZHOU)

    book = openpyxl.load_workbook(write_report(data, result, tmp_path / "r.xlsx"))

    sheet = book["Sheet2"]
    assert _fill(sheet["D5"]) == WARNING_FILL.fgColor.rgb
    assert _fill(sheet["E4"]) == ERROR_FILL.fgColor.rgb
    assert sheet["G5"].value.startswith("（提示）身份证号码：")
    assert sheet["G4"].value.startswith("手机号码：")


def test_an_xls_upload_gets_an_xlsx_report(tmp_path):
    rows = quzhou_rows([person(1)])
    rows[3][1] = "=王伟1"  # text that looks like a formula stays text
    data = xls_bytes({"Sheet1": [["申请表"]], "Sheet2": rows})
    result = read_roster(data, "名册.xls", QUZHOU)

    path = write_report(data, result, tmp_path / "r.xlsx", "名册.xls")

    sheet = openpyxl.load_workbook(path)["Sheet2"]
    assert sheet["B4"].value == "=王伟1" and sheet["B4"].data_type == "s"
    assert sheet["D4"].value == person(1).id_number
    assert [c.value for c in sheet[3]] == [*QUZHOU_HEADER, REASON_TITLE]


def test_roster_check_opens_the_file_once_for_the_check_and_the_report(
    faulty_roster, tmp_path, monkeypatch
):
    """Issue 14: `mutual-aid roster check --report` writes the report from the workbook the
    check opened."""
    from python_calamine import CalamineWorkbook

    import services.enrollment.workbook as workbook_module
    from services.cli import main

    opened = []

    class Counting:
        @staticmethod
        def from_filelike(handle):
            opened.append(1)
            return CalamineWorkbook.from_filelike(handle)

    monkeypatch.setattr(workbook_module, "CalamineWorkbook", Counting)
    upload = tmp_path / "名册.xlsx"
    upload.write_bytes(faulty_roster.data)
    out = tmp_path / "r.xlsx"
    code = main(
        [
            "--today",
            "2024-06-01",
            "roster",
            "check",
            "--city",
            "zhangjiakou",
            "--year",
            "2024",
            str(upload),
            "--report",
            str(out),
        ]
    )
    assert code == 1 and out.exists() and len(opened) == 1
