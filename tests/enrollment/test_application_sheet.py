"""Sheet1, the group application (团体申请表): read from the upload, held against the roster.

The seeds' 填表说明: "在职职工参加人数和名册中人数必须一致". Our templates filled in as a clerk
would (Zhangjiakou's and Quzhou's), the seed's own layout with merged and spaced labels, values
that cannot be read, and the import: a Sheet1 that disagrees with its roster stores nothing, one
that agrees sets the application's figures, and a workbook without Sheet1 imports as before.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from services.enrollment import applications as ops
from services.enrollment import roster as roster_module
from services.enrollment.application_sheet import read_application_sheet
from services.enrollment.models import RosterLine, metadata
from services.enrollment.report import report_data, write_report
from services.enrollment.template import write_template
from services.kernel.registry import load_registry
from services.messaging.database import make_engine, make_session_factory
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import QUZHOU, WUJIN, Person, bad_check_digit, person, quzhou_rows

MISMATCH = "申请表参加医疗互助人数 {} 人，名册 {} 人，两者必须一致"


# -- workbooks ----------------------------------------------------------------------------------


def fill_application(data: bytes, sheet_name: str, values: dict[str, object]) -> bytes:
    """The workbook with Sheet1 filled as a clerk does: each value in the cell right of its
    label (the labels are found in the template, not assumed at fixed cells)."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book[sheet_name]
    where = {c.value: (c.row, c.column) for row in sheet.iter_rows() for c in row if c.value}
    for label, value in values.items():
        row, col = where[label]
        sheet.cell(row, col + 1).value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def quzhou():
    return load_registry().get("quzhou")


@pytest.fixture(scope="module")
def quzhou_template(quzhou, tmp_path_factory) -> bytes:
    path = write_template(quzhou, 2025, tmp_path_factory.mktemp("qz") / "衢州市2025.xlsx", rows=100)
    return path.read_bytes()


def quzhou_upload(template: bytes, people, sheet1: dict[str, object] | None = None) -> bytes:
    """Quzhou's template: Sheet2 with ``people`` from row 4, Sheet1 with ``sheet1``."""
    book = openpyxl.load_workbook(io.BytesIO(template))
    roster = book["Sheet2"]
    for i, p in enumerate(people):
        for col, value in enumerate((p.name, p.sex, p.id_number, p.phone), start=2):
            roster.cell(4 + i, col).value = value
    out = io.BytesIO()
    book.save(out)
    return fill_application(out.getvalue(), "Sheet1", sheet1 or {})


FILLED = {
    "单位医保编码": "33080001",
    "所属系统": "工业",
    "单位工会": "龙游某纸业有限公司工会",
    "单位地址": "龙游县龙洲街道",
    "单位性质": "民营企业",
    "工会主席": "王伟",
    "在职职工总人数": 105,
    "参加职工医保人数": 100,
    "参加医疗互助人数": 80,
    "交款总额（小写）": 4000,
    "交款总额（大写）": "肆仟元整",
}


# -- reading Sheet1 -----------------------------------------------------------------------------


def test_quzhou_template_filled_is_read_field_by_field(quzhou, quzhou_template):
    data = quzhou_upload(quzhou_template, [], FILLED)
    book = openpyxl.load_workbook(io.BytesIO(data))
    phones = [c for row in book["Sheet1"].iter_rows() for c in row if c.value == "联系电话"]
    for cell, number in zip(phones, ("0570-7012345", 13905701234), strict=True):
        book["Sheet1"].cell(cell.row, cell.column + 1).value = number
    out = io.BytesIO()
    book.save(out)

    form = read_application_sheet(
        out.getvalue(), "龙游某纸业有限公司工会2025.xlsx", quzhou.roster_format(2025)
    )
    assert form is not None and form.sheet == "Sheet1"
    assert (form.unit_key, form.system, form.union, form.address, form.nature, form.chair) == (
        "33080001",
        "工业",
        "龙游某纸业有限公司工会",
        "龙游县龙洲街道",
        "民营企业",
        "王伟",
    )
    assert form.phones == ("0570-7012345", "13905701234")  # a number typed in comes back as text
    assert (form.staff_total, form.staff_insured, form.participants) == (105, 100, 80)
    assert form.price == Decimal("50.00")  # the template's own price, as the quote gives it
    assert form.total == Decimal("4000.00") and form.total_capitals == "肆仟元整"
    assert form.issues == ()
    assert form.cells["participants"] == (7, 2)  # B7, right of its label A7


def test_zhangjiakou_template_filled_is_read_from_its_own_sheet(template_roster):
    data = template_roster.build([person(i) for i in range(3)])
    data = fill_application(
        data,
        "团体申请表",
        {
            "单位编码": "cs002",
            "单位工会": "测试单位工会",
            "在职职工总人数": 10,
            "参加医疗互助人数": 3,
        },
    )
    form = read_application_sheet(data, "x.xlsx", template_roster.fmt)
    assert form.sheet == "团体申请表"
    assert (form.unit_key, form.union, form.staff_total, form.participants) == (
        "cs002",
        "测试单位工会",
        10,
        3,
    )
    assert form.staff_insured is None and form.chair is None and form.phones == ()  # left empty


def test_the_blank_template_declares_nothing(quzhou, quzhou_template):
    form = read_application_sheet(quzhou_template, "x.xlsx", quzhou.roster_format(2025))
    assert form.participants is None and form.staff_total is None and form.unit_key is None
    assert form.total is None  # 交款总额 is a formula with no value saved: empty, not an error
    assert form.issues == ()


def test_seed_layout_with_merged_and_spaced_labels(quzhou):
    """Attachment 1 as the seed prints it: labels spaced out, on two lines, merged over empty
    cells, full-width brackets and digits, a colon, 交款总额 merged over its 小写 and 大写 rows."""
    rows = [
        ["衢州市在职职工医疗互助活动申请表"],
        ["单位医保编码：", "", "３３０８０００２", "所属系统：", "商贸", "附件共", 2, "张"],
        ["单 位 工 会", "", "某商场工会", "联系电话", "", "所在单位意见："],
        ["在职职工\n总人数", "", 60, "参加职工\n医保人数", 58, "参加医疗\n互助人数", 50],
        ["交款金额\n（元／人）", "", "５０元", "交  款\n总  额", "小写", "2,500.00"],
        ["", "", "", "", "大写", "贰仟伍佰元整"],
    ]
    merges = ["A1:H1", "A2:B2", "A3:B3", "A4:B4", "A5:B5", "D5:D6"]
    data = xlsx_bytes({"Sheet1": rows, "Sheet2": [["名册"]]}, {"Sheet1": merges})
    form = read_application_sheet(data, "x.xlsx", QUZHOU)
    assert form.unit_key == "33080002"  # full-width digits normalised
    assert (form.system, form.union) == ("商贸", "某商场工会")
    assert form.phones == ()  # 联系电话 left empty: 所在单位意见 is a label, not its value
    assert (form.staff_total, form.staff_insured, form.participants) == (60, 58, 50)
    assert form.price == Decimal("50.00")
    assert form.total == Decimal("2500.00") and form.total_capitals == "贰仟伍佰元整"
    assert form.cells["participants"] == (4, 7)
    assert form.issues == ()


def test_label_and_value_in_one_cell_and_far_from_a1(quzhou):
    rows = [
        [],
        [],
        ["", "", "", "单位医保编码：33080003"],
        ["", "", "", "参加医疗互助人数", "", "", 12],
    ]
    form = read_application_sheet(xlsx_bytes({"Sheet1": rows}), "x.xlsx", QUZHOU)
    assert (form.unit_key, form.participants) == ("33080003", 12)
    assert form.cells["participants"] == (4, 7)


def test_a_unit_after_an_empty_field_is_not_its_value():
    """Zhangjiakou's form: 单位总人数 [ ] 人 — an empty count followed by its unit."""
    rows = [["单位总人数", "", "人", "参与职工人数", 10, "人"], ["缴费标准", "50元/人/期"]]
    form = read_application_sheet(xlsx_bytes({"Sheet1": rows}), "x.xlsx", QUZHOU)
    assert (form.staff_total, form.participants, form.price) == (None, 10, Decimal("50.00"))
    assert form.issues == ()


def test_labels_beyond_the_searched_corner_are_not_read():
    rows = [[]] * 30 + [["参加医疗互助人数", 80]]
    form = read_application_sheet(xlsx_bytes({"Sheet1": rows}), "x.xlsx", QUZHOU)
    assert form is not None and form.participants is None


def test_malformed_values_are_issues_and_their_fields_none():
    rows = [
        ["在职职工总人数", -5, "参加职工医保人数", "一百"],
        ["参加医疗互助人数", 80.5, "交款金额（元/人）", 50.125],
        ["交款总额（小写）", date(2025, 1, 1)],
    ]
    form = read_application_sheet(xlsx_bytes({"Sheet1": rows}), "x.xlsx", QUZHOU)
    assert (form.staff_total, form.staff_insured, form.participants, form.price, form.total) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert [(i.row, i.column, i.col, i.sheet) for i in form.issues] == [
        (1, "在职职工总人数", 2, "Sheet1"),
        (1, "参加职工医保人数", 4, "Sheet1"),
        (2, "参加医疗互助人数", 2, "Sheet1"),
        (2, "交款金额(元/人)", 4, "Sheet1"),
        (3, "交款总额(小写)", 2, "Sheet1"),
    ]
    reasons = [i.reason for i in form.issues]
    assert "不能是负数" in reasons[0] and "“一百”" in reasons[1] and "应为整数" in reasons[2]
    assert "两位小数" in reasons[3] and "日期" in reasons[4]
    assert form.issues[2].to_dict() == {
        "row": 2,
        "column": "参加医疗互助人数",
        "reason": reasons[2],
        "sheet": "Sheet1",
    }


def test_amounts_are_exact_from_floats_and_text():
    # 4008.1 as a binary float is 4008.09999…: it must come back as exactly 4008.10
    rows = [["交款金额（元/人）", 50.1], ["交款总额（小写）", 4008.1], ["参加医疗互助人数", "80人"]]
    form = read_application_sheet(xlsx_bytes({"Sheet1": rows}), "x.xlsx", QUZHOU)
    assert form.issues == ()
    assert (form.price, form.total, form.participants) == (Decimal("50.10"), Decimal("4008.10"), 80)
    assert str(form.total) == "4008.10"


def test_no_application_sheet_is_none():
    assert (
        read_application_sheet(xlsx_bytes({"Sheet2": quzhou_rows([person(0)])}), "x.xlsx", QUZHOU)
        is None
    )
    data = xlsx_bytes({"Sheet1": [["参加医疗互助人数", 1]]})
    assert read_application_sheet(data, "x.xlsx", WUJIN) is None  # Wujin's form has no Sheet1


# -- the import ---------------------------------------------------------------------------------


@pytest.fixture
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/enrollment.sqlite", pool_size=4)
    metadata().create_all(engine)
    session = make_session_factory(engine)()
    yield session
    session.close()
    engine.dispose()


def quzhou_application(session, quzhou, participants=90):
    unit = ops.register_unit(
        session,
        quzhou,
        year=2025,
        unit_key="33080001",
        name="龙游某纸业有限公司工会",
        district="龙游县",
        nature="non_public",
        staff_total=120,
        staff_insured=110,
    )
    return ops.open_application(
        session, quzhou, unit_id=unit.id, year=2025, participants=participants, actor="clerk:wang"
    )


def stored(session, app) -> int:
    return len(session.scalars(select(RosterLine).where(RosterLine.application_id == app.id)).all())


def test_participants_not_the_roster_stores_nothing_and_says_where(
    session, quzhou, quzhou_template
):
    app = quzhou_application(session, quzhou)
    people = [person(i) for i in range(80)]
    data = quzhou_upload(quzhou_template, people, {**FILLED, "参加医疗互助人数": 81})
    result = ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="clerk:wang"
    )
    assert not result.importable and result.members == () and result.rows == 80
    [error] = result.errors
    assert (error.row, error.column, error.col, error.sheet) == (7, "参加医疗互助人数", 2, "Sheet1")
    assert error.reason == MISMATCH.format(81, 80)
    assert result.to_dict()["errors"] == [
        {
            "row": 7,
            "column": "参加医疗互助人数",
            "reason": MISMATCH.format(81, 80),
            "sheet": "Sheet1",
        }
    ]
    assert report_data(result)["errors"][0]["cell"] == "B7"
    assert stored(session, app) == 0
    assert (app.participants, app.staff_total, app.staff_insured) == (90, 120, 110)  # untouched
    assert [h["reason"] for h in ops.history(session, application_id=app.id)] == ["新建团体申请"]


def test_sheet1_error_is_listed_not_painted_on_the_roster(
    session, quzhou, quzhou_template, tmp_path
):
    app = quzhou_application(session, quzhou)
    people = [person(i) for i in range(5)]
    people[2] = Person(people[2].name, people[2].sex, bad_check_digit(people[2].id_number), "")
    data = quzhou_upload(quzhou_template, people, {"参加医疗互助人数": 6})
    result = ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="clerk"
    )
    issues = result.to_dict()["errors"]
    assert [i.get("sheet") for i in issues] == ["Sheet1", None]  # roster issues keep their shape
    assert "sheet" not in issues[1]
    report = openpyxl.load_workbook(write_report(data, result, tmp_path / "r.xlsx", "a.xlsx"))
    listed = [(r[1], r[2]) for r in report["错误清单"].iter_rows(min_row=2, values_only=True)]
    assert listed == [("Sheet1!B7", "参加医疗互助人数"), ("D6", "身份证号码")]
    roster_sheet = report["Sheet2"]
    assert roster_sheet["B7"].fill.fgColor.rgb in (
        None,
        "00000000",
    )  # row 7 is a person, not Sheet1
    assert roster_sheet.cell(7, roster_sheet.max_column).value is None  # no 错误原因 on row 7


def test_zhangjiakou_mismatch_names_its_own_sheet(session, template_roster, zhangjiakou):
    unit = ops.register_unit(session, zhangjiakou, year=2024, unit_key="cs002", name="测试单位工会")
    app = ops.open_application(
        session, zhangjiakou, unit_id=unit.id, year=2024, participants=3, actor="c"
    )
    data = fill_application(
        template_roster.build([person(i) for i in range(3)]), "团体申请表", {"参加医疗互助人数": 4}
    )
    result = ops.import_roster(
        session, zhangjiakou, application_id=app.id, data=data, filename="x.xlsx", actor="c"
    )
    assert [(e.sheet, e.reason) for e in result.errors] == [("团体申请表", MISMATCH.format(4, 3))]
    assert stored(session, app) == 0


def test_participants_equal_to_the_roster_update_the_application(session, quzhou, quzhou_template):
    app = quzhou_application(session, quzhou, participants=90)
    data = quzhou_upload(quzhou_template, [person(i) for i in range(80)], FILLED)
    result = ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="clerk:wang"
    )
    assert result.importable and len(result.members) == 80 and result.errors == ()
    assert stored(session, app) == 80
    assert (app.participants, app.staff_total, app.staff_insured) == (80, 105, 100)
    assert ops.history(session, application_id=app.id)[-1]["reason"] == (
        "导入名册 80 人（a.xlsx）；按申请表（Sheet1）：参加医疗互助人数 80（原 90），"
        "在职职工总人数 105（原 120），参加职工医保人数 100（原 110）"
    )


def test_an_unreadable_count_on_sheet1_stores_nothing(session, quzhou, quzhou_template):
    app = quzhou_application(session, quzhou)
    data = quzhou_upload(quzhou_template, [person(i) for i in range(3)], {"参加医疗互助人数": "三"})
    result = ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="c"
    )
    assert [(e.row, e.column, e.sheet) for e in result.errors] == [
        (7, "参加医疗互助人数", "Sheet1")
    ]
    assert stored(session, app) == 0 and app.participants == 90


def test_an_unreadable_amount_is_a_warning_and_the_roster_imports(session, quzhou, quzhou_template):
    app = quzhou_application(session, quzhou)
    sheet1 = {"参加医疗互助人数": 3, "交款总额（小写）": "一百五十"}
    data = quzhou_upload(quzhou_template, [person(i) for i in range(3)], sheet1)
    result = ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="c"
    )
    assert result.importable and stored(session, app) == 3 and app.participants == 3
    assert [(w.row, w.column, w.sheet) for w in result.warnings] == [
        (8, "交款总额(小写)", "Sheet1")
    ]


def test_joiners_are_counted_with_the_roster_they_join(session, quzhou, quzhou_template):
    app = quzhou_application(session, quzhou)
    first = quzhou_upload(quzhou_template, [person(i) for i in range(70)], {"参加医疗互助人数": 70})
    ops.import_roster(
        session, quzhou, application_id=app.id, data=first, filename="a.xlsx", actor="c"
    )
    joiners = [person(i) for i in range(70, 80)]

    only_joiners = quzhou_upload(quzhou_template, joiners, {"参加医疗互助人数": 10})
    result = ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=only_joiners,
        filename="b.xlsx",
        actor="c",
        append=True,
    )
    assert [e.reason for e in result.errors] == [
        "申请表参加医疗互助人数 10 人，名册 80 人（原有 70 人，本次增员 10 人），两者必须一致"
    ]
    assert stored(session, app) == 70

    total = quzhou_upload(quzhou_template, joiners, {"参加医疗互助人数": 80})
    result = ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=total,
        filename="b.xlsx",
        actor="c",
        append=True,
    )
    assert result.importable and stored(session, app) == 80 and app.participants == 80


def test_a_workbook_without_sheet1_imports_as_before(session, quzhou):
    app = quzhou_application(session, quzhou, participants=90)
    data = xlsx_bytes({"Sheet2": quzhou_rows([person(i) for i in range(80)])})
    result = ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="c"
    )
    assert result.importable and stored(session, app) == 80 and result.warnings == ()
    assert app.participants == 90  # nothing declared: the application keeps its figures
    assert ops.history(session, application_id=app.id)[-1]["reason"] == "导入名册 80 人（a.xlsx）"


def test_a_roster_kept_on_sheet1_is_not_read_as_the_application(session, quzhou, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("the roster's own sheet was read again as the application")

    monkeypatch.setattr(ops, "read_application_sheet", refused)
    app = quzhou_application(session, quzhou, participants=90)
    data = xlsx_bytes({"Sheet1": quzhou_rows([person(i) for i in range(80)])})
    result = ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="c"
    )
    assert result.importable and result.sheet == "Sheet1" and stored(session, app) == 80
    assert app.participants == 90


def test_the_upload_is_opened_once_for_both_sheets(session, quzhou, quzhou_template, monkeypatch):
    opened = []
    real = ops.open_workbook

    def counting(data, filename, *limits):
        opened.append(filename)
        return real(data, filename, *limits)

    def refused(*args, **kwargs):
        raise AssertionError("the workbook was opened a second time")

    monkeypatch.setattr(ops, "open_workbook", counting)
    monkeypatch.setattr(roster_module, "open_workbook", refused)
    monkeypatch.setattr("services.enrollment.application_sheet.open_workbook", refused)
    app = quzhou_application(session, quzhou)
    data = quzhou_upload(quzhou_template, [person(i) for i in range(3)], {"参加医疗互助人数": 3})
    result = ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="c"
    )
    assert result.importable and app.participants == 3
    assert opened == ["a.xlsx"]


def test_an_upload_with_errors_is_opened_once_for_the_check_and_its_report(
    session, quzhou, quzhou_template, monkeypatch, tmp_path
):
    """Issue 14: the error report is written from the workbook the check opened; the report is
    the one the upload's bytes give (write_report from the bytes, as test_report checks)."""
    from python_calamine import CalamineWorkbook

    import services.enrollment.workbook as workbook_module

    app = quzhou_application(session, quzhou)
    people = [person(i) for i in range(5)]
    people[2] = Person(people[2].name, people[2].sex, bad_check_digit(people[2].id_number), "")
    data = quzhou_upload(quzhou_template, people, {"参加医疗互助人数": 6})
    opened = []

    class Counting:  # the one opener every path goes through (workbook.open_workbook)
        @staticmethod
        def from_filelike(handle):
            opened.append(1)
            return CalamineWorkbook.from_filelike(handle)

    monkeypatch.setattr(workbook_module, "CalamineWorkbook", Counting)
    written = []
    result = ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=data,
        filename="a.xlsx",
        actor="c",
        report=lambda book, result: written.append(write_report(book, result, tmp_path / "r.xlsx")),
    )
    assert not result.importable and len(opened) == 1 and len(written) == 1
    monkeypatch.undo()
    again = write_report(data, result, tmp_path / "again.xlsx", "a.xlsx")

    def cells(path):
        book = openpyxl.load_workbook(path)
        return {
            name: [
                [(c.value, c.fill.fgColor.rgb if c.fill.fill_type else None) for c in row]
                for row in book[name].iter_rows()
            ]
            for name in book.sheetnames
        }

    assert cells(written[0]) == cells(again)


def test_a_clean_upload_calls_no_report(session, quzhou, quzhou_template):
    app = quzhou_application(session, quzhou)
    data = quzhou_upload(quzhou_template, [person(i) for i in range(3)], {"参加医疗互助人数": 3})
    called = []
    result = ops.import_roster(
        session,
        quzhou,
        application_id=app.id,
        data=data,
        filename="a.xlsx",
        actor="c",
        report=lambda *args: called.append(args),
    )
    assert result.importable and called == []
