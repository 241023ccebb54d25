"""Blank workbooks: Sheet1 (申请表) and the roster sheet, as the seeds' attachments lay them out."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
import pytest

from services.enrollment.roster import RosterUnreadable, read_roster
from services.enrollment.template import HEADER_ROW, TEMPLATE_ROWS, default_name, write_template
from services.kernel.registry import load_registry
from tests.enrollment.samples import QUZHOU, WUJIN, StubPolicy, person


@pytest.fixture(scope="module")
def zjk_book(zhangjiakou, tmp_path_factory):
    path = write_template(zhangjiakou, 2024, tmp_path_factory.mktemp("t") / "张家口市2024.xlsx")
    return openpyxl.load_workbook(path)


def test_zhangjiakou_has_the_application_then_the_roster(zjk_book):
    assert zjk_book.sheetnames == ["团体申请表", "人员名册"]


def test_roster_sheet_title_merged_across_and_header_by_the_format(zjk_book, zjk_format):
    sheet = zjk_book["人员名册"]
    assert sheet["A1"].value == "张家口市职工医疗互助活动人员名册"
    assert [str(r) for r in sheet.merged_cells.ranges] == ["A1:G1"]
    assert [c.value for c in sheet[HEADER_ROW]] == [c.titles[0] for c in zjk_format.columns]


def test_id_and_phone_cells_are_text_on_every_template_row(zjk_book):
    sheet = zjk_book["人员名册"]
    last = HEADER_ROW + TEMPLATE_ROWS
    for row in (HEADER_ROW + 1, 500, last):
        assert sheet.cell(row, 4).number_format == "@"  # 身份证号
        assert sheet.cell(row, 7).number_format == "@"  # 联系电话
        assert sheet.cell(row, 2).number_format == "General"  # 姓名: nothing forced
    assert sheet.cell(last, 1).value == TEMPLATE_ROWS  # 序号 numbered as the seed's form
    assert sheet.cell(last + 1, 1).value is None


def test_sex_and_id_length_are_validated_as_the_clerk_types(zjk_book):
    sheet = zjk_book["人员名册"]
    rules = {v.type: str(v.sqref) for v in sheet.data_validations.dataValidation}
    assert rules == {
        "list": f"C4:C{HEADER_ROW + TEMPLATE_ROWS}",
        "textLength": f"D4:D{HEADER_ROW + TEMPLATE_ROWS}",
    }


def test_application_sheet_fields_and_the_city_price(zjk_book):
    sheet = zjk_book["团体申请表"]
    labels = {
        c.value for row in sheet.iter_rows(min_row=2, max_row=8) for c in row if c.column in (1, 3)
    }
    assert labels == {
        "单位编码",
        "所属系统",
        "单位工会",
        "联系电话",
        "单位地址",
        "单位性质",
        "工会主席",
        "在职职工总人数",
        "参加职工医保人数",
        "参加医疗互助人数",
        "交款金额（元/人）",
        "交款总额（小写）",
        "交款总额（大写）",
    }
    assert Decimal(str(sheet["D7"].value)) == Decimal("50")
    assert sheet["B2"].number_format == "@"
    assert sheet["B8"].value.startswith("=")


def test_quzhou_sheet1_and_sheet2_with_its_unit_key(tmp_path):
    path = write_template(StubPolicy("衢州市", QUZHOU, price="40"), 2025, tmp_path / "q.xlsx")

    book = openpyxl.load_workbook(path)

    assert book.sheetnames == ["Sheet1", "Sheet2"]
    assert book["Sheet1"]["A2"].value == "单位医保编码"
    assert book["Sheet1"]["D7"].value == 40
    assert [c.value for c in book["Sheet2"][HEADER_ROW]] == [
        "序号",
        "姓名",
        "性别",
        "身份证号码",
        "手机号码",
        "备注",
    ]


def test_wujin_has_only_its_signature_sheet_with_card_numbers_as_text(tmp_path):
    path = write_template(StubPolicy("常州市武进区", WUJIN, price="100"), 2024, tmp_path / "w.xlsx")

    book = openpyxl.load_workbook(path)

    assert book.sheetnames == ["授权签字汇总表"]
    sheet = book["授权签字汇总表"]
    assert sheet["A2"].value == "申请单位工会（盖章）："
    assert sheet.cell(HEADER_ROW, 7).value == "工会卡卡号"
    assert sheet.cell(HEADER_ROW + 1, 7).number_format == "@"
    assert sheet.cell(HEADER_ROW + 1, 6).number_format == "General"  # 工作单位


def test_the_blank_template_is_found_by_the_reader_but_holds_nobody(
    zhangjiakou, zjk_format, tmp_path
):
    path = write_template(zhangjiakou, 2024, tmp_path / "t.xlsx")

    with pytest.raises(RosterUnreadable, match=r"「人员名册」第3行是名册表头，但下面没有任何职工"):
        read_roster(path, None, zjk_format)


def test_default_name_is_the_city_and_year(zhangjiakou):
    assert default_name(zhangjiakou, 2024) == "张家口市2024.xlsx"


def test_every_installed_city_reads_back_its_own_template(tmp_path):
    people = [person(i) for i in range(3)]
    checked = []
    for city in load_registry():
        for year in city.policy.years():
            fmt = city.policy.roster_format(year)
            path = write_template(city.policy, year, tmp_path / f"{city.code}{year}.xlsx")
            book = openpyxl.load_workbook(path)
            sheet = book[fmt.sheet]
            cols = {c.field: i for i, c in enumerate(fmt.columns, start=1)}
            for row, p in enumerate(people, start=HEADER_ROW + 1):
                filled = {"name": p.name, "sex": p.sex, "id_number": p.id_number}
                filled |= {"phone": p.phone, "card_number": "6228480012345678"}
                for field, value in filled.items():
                    if field in cols:
                        sheet.cell(row, cols[field]).value = value
            book.save(path)

            result = read_roster(path, None, fmt)

            assert result.errors == (), (city.code, year, result.errors)
            assert [m.id_number for m in result.members] == [p.id_number for p in people]
            checked.append(city.code)
    assert "zhangjiakou" in checked
