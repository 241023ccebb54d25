"""Reading and checking rosters (issue 4): formats, columns found by title, every row's checks."""

from __future__ import annotations

from datetime import date

import pytest

from services.enrollment import roster
from services.enrollment.roster import RosterUnreadable, read_roster
from services.kernel.policy import RosterColumn, RosterFormat
from tests.enrollment.files import ods_bytes, xls_bytes, xlsx_bytes
from tests.enrollment.samples import (
    QUZHOU,
    QUZHOU_HEADER,
    WUJIN,
    Person,
    bad_check_digit,
    full_width,
    person,
    quzhou_rows,
)

# -- the done-when scenario ----------------------------------------------------------------------


def test_template_with_500_valid_rows_imports_every_member(
    template_roster, five_hundred, zjk_format
):
    data = template_roster.build(five_hundred)

    result = read_roster(data, "某某单位工会2024.xlsx", zjk_format)

    assert result.errors == () and result.warnings == ()
    assert result.importable
    assert result.sheet == "人员名册" and result.header_row == 3
    # the template numbers 1000 rows: the 500 with only 序号 filled are not members
    assert result.rows == 500 and len(result.members) == 500
    first, last = result.members[0], result.members[-1]
    assert (first.excel_row, last.excel_row) == (4, 503)
    assert first.name == five_hundred[0].name
    assert first.id_number == five_hundred[0].id_number
    assert first.sex == ("male" if five_hundred[0].sex == "男" else "female")
    assert last.phone == five_hundred[-1].phone


def test_four_faults_import_nothing_and_name_exactly_those_rows(faulty_roster, zjk_format):
    asked: list[set[str]] = []

    def enrolled_elsewhere(ids: set[str]) -> dict[str, str]:
        asked.append(ids)
        return (
            {faulty_roster.enrolled_id: "张家口市某某公司工会"}
            if faulty_roster.enrolled_id in ids
            else {}
        )

    result = read_roster(faulty_roster.data, "名册.xlsx", zjk_format, enrolled_elsewhere)

    assert result.members == () and not result.importable
    expected = {
        faulty_roster.numeric_row,
        faulty_roster.check_digit_row,
        faulty_roster.duplicate_row,
        faulty_roster.enrolled_row,
    }
    assert {e.row for e in result.errors} == expected
    assert len(result.errors) == 4
    by_row = {e.row: e for e in result.errors}
    assert all(e.column == "身份证号" for e in result.errors)
    assert "存成了数字" in by_row[faulty_roster.numeric_row].reason
    assert "校验码错误" in by_row[faulty_roster.check_digit_row].reason
    assert f"第{faulty_roster.duplicate_of}行重复" in by_row[faulty_roster.duplicate_row].reason
    assert "张家口市某某公司工会" in by_row[faulty_roster.enrolled_row].reason
    assert result.rows == 500
    # asked once, with every valid ID (the numeric and the bad one are not IDs)
    assert len(asked) == 1 and len(asked[0]) == 497 and faulty_roster.enrolled_id in asked[0]


def test_full_width_digits_in_an_id_are_normalised_with_a_warning(template_roster, zjk_format):
    people = [person(i) for i in range(3)]
    wide = Person(people[1].name, people[1].sex, full_width(people[1].id_number), people[1].phone)

    result = read_roster(template_roster.build([people[0], wide, people[2]]), "x.xlsx", zjk_format)

    assert result.importable and result.errors == ()
    assert [(w.row, w.column) for w in result.warnings] == [(5, "身份证号")]
    assert "全角" in result.warnings[0].reason
    assert result.members[1].id_number == people[1].id_number


# -- file formats --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "write"),
    [("xls", xls_bytes), ("xlsx", xlsx_bytes), ("ods", ods_bytes)],
)
def test_quzhou_sheet2_reads_alike_from_xls_xlsx_and_ods(kind, write):
    people = [person(i) for i in range(5)]
    sheets = {"Sheet1": [["衢州市在职职工医疗互助活动申请表"], ["单位医保编码：", "330800"]]}
    sheets["Sheet2"] = quzhou_rows(people)

    result = read_roster(write(sheets), f"某某单位工会2025.{kind}", QUZHOU)

    assert result.errors == ()
    assert result.sheet == "Sheet2" and result.header_row == 3
    assert [m.excel_row for m in result.members] == [4, 5, 6, 7, 8]
    assert [m.id_number for m in result.members] == [p.id_number for p in people]
    assert [m.phone for m in result.members] == [p.phone for p in people]


def test_the_extension_does_not_decide_the_type():
    data = xls_bytes({"Sheet2": quzhou_rows([person(1)])})

    result = read_roster(data, "名册.xlsx", QUZHOU)  # an .xls saved under an .xlsx name

    assert [m.id_number for m in result.members] == [person(1).id_number]


def test_reads_from_a_path(tmp_path):
    path = tmp_path / "某某单位工会2025.xls"
    path.write_bytes(xls_bytes({"Sheet2": quzhou_rows([person(1), person(2)])}))

    result = read_roster(path, None, QUZHOU)

    assert result.rows == 2


# -- sheets, headers, blank rows ------------------------------------------------------------------


def test_header_found_by_title_wherever_it_is():
    # header on row 6 starting at column C (the sheet at A1), columns reordered, blanks
    # inside a title, an unknown column, a merged title above
    header = ["手机号码", "身 份 证 号 码", "工号", "姓名", "序号"]
    rows = [["附件2"], [], ["", "", "名册"], [], ["", "", "填表日期："], ["", "", *header]]
    people = [person(i) for i in range(3)]
    for i, p in enumerate(people, start=1):
        rows.append(["", "", p.phone, p.id_number, f"A{i}", p.name, i])
    rows[-1][2] = "1390000"  # a bad phone on Excel row 9, column C
    data = xlsx_bytes({"Sheet2": rows}, merges={"Sheet2": ["C3:G3"]})

    result = read_roster(data, "x.xlsx", QUZHOU)

    assert result.header_row == 6
    assert {c.field: c.col for c in result.columns} == {
        "phone": 3,
        "id_number": 4,
        "name": 6,
        "seq": 7,
    }
    assert [(e.row, e.column, e.col) for e in result.errors] == [(9, "手机号码", 3)]
    assert result.columns[1].title == "身份证号码"


def test_row_and_column_numbers_are_excels_when_the_sheet_starts_at_b3():
    # calamine's rows start at the used range: nothing in rows 1-2 or column A here
    p = person(1)
    rows = [
        [],
        [],
        ["", "参保职工名册"],
        ["", *QUZHOU_HEADER],
        ["", 1, p.name, p.sex, p.id_number, "12"],
    ]

    result = read_roster(xlsx_bytes({"Sheet2": rows}), "x.xlsx", QUZHOU)

    assert result.header_row == 4
    assert [(e.row, e.column, e.col) for e in result.errors] == [(5, "手机号码", 6)]


def test_blank_rows_and_rows_with_only_a_number_are_not_members():
    people = [person(i) for i in range(4)]
    rows = quzhou_rows(people[:2])
    rows.append(["", "", "", "", "", ""])  # blank in the middle
    rows.append([3, "", "", "", "", ""])  # only 序号
    rows.append([4, people[2].name, people[2].sex, people[2].id_number, people[2].phone, ""])
    rows += [[i, "  ", "", "", "", ""] for i in range(5, 40)]  # trailing, a blank name
    data = xlsx_bytes({"Sheet2": rows})

    result = read_roster(data, "x.xlsx", QUZHOU)

    assert result.errors == ()
    assert result.rows == 3
    assert [m.excel_row for m in result.members] == [4, 5, 8]


def test_a_sheet_with_another_name_is_found_by_its_header():
    sheets = {"申请表": [["单位医保编码："]], "参保名册": quzhou_rows([person(1)])}

    result = read_roster(xlsx_bytes(sheets), "x.xlsx", QUZHOU)

    assert result.sheet == "参保名册" and result.rows == 1


def test_missing_sheet2_names_the_sheets_found():
    sheets = {"Sheet1": [["衢州市在职职工医疗互助活动申请表"]], "Sheet3": [["备注"]]}

    with pytest.raises(RosterUnreadable) as caught:
        read_roster(xlsx_bytes(sheets), "某单位2025.xlsx", QUZHOU)

    message = str(caught.value)
    assert message.startswith("某单位2025.xlsx：")
    assert "「Sheet2」" in message and "「Sheet1」、「Sheet3」" in message
    assert "\n" not in message


def test_no_header_row_says_which_titles_were_looked_for():
    rows = [["衢州市职工医疗互助保障参保职工名册"]] + [["说明"]] * 25 + [QUZHOU_HEADER]

    with pytest.raises(RosterUnreadable) as caught:
        read_roster(xlsx_bytes({"Sheet2": rows}), "x.xlsx", QUZHOU)

    message = str(caught.value)
    assert "前20行" in message
    assert "序号、姓名、性别、身份证号码、手机号码、备注" in message


def test_a_header_missing_a_required_column_names_it():
    rows = [["序号", "姓名", "性别", "手机号码"], [1, "王伟", "男", "13900000000"]]

    with pytest.raises(RosterUnreadable) as caught:
        read_roster(xlsx_bytes({"Sheet2": rows}), "x.xlsx", QUZHOU)

    assert "第1行" in str(caught.value) and "缺少必需的列：身份证号码" in str(caught.value)


def test_a_header_with_no_one_under_it_is_refused():
    with pytest.raises(RosterUnreadable, match="下面没有任何职工"):
        read_roster(xlsx_bytes({"Sheet2": quzhou_rows([])}), "x.xlsx", QUZHOU)


# -- the checks on each row -------------------------------------------------------------------


def _quzhou_one(**cells) -> list[tuple[str, str]]:
    p = person(42)
    row = {"序号": 1, "姓名": p.name, "性别": p.sex, "身份证号码": p.id_number, "手机号码": p.phone}
    row.update(cells)
    data = xlsx_bytes({"Sheet2": [QUZHOU_HEADER, [row.get(h, "") for h in QUZHOU_HEADER]]})
    result = read_roster(data, "x.xlsx", QUZHOU)
    assert all(e.row == 2 for e in result.errors)
    assert (result.members == ()) == bool(result.errors)
    return [(e.column, e.reason) for e in result.errors]


def test_a_valid_row_has_no_errors():
    assert _quzhou_one() == []


def test_sex_must_agree_with_the_id():
    p = person(42)  # its 17th digit decides
    other = "女" if p.sex == "男" else "男"

    errors = _quzhou_one(性别=other)

    assert errors == [("性别", f"性别填的是“{other}”，但身份证号码第17位表明是“{p.sex}”")]


def test_sex_must_be_male_or_female():
    assert [c for c, _ in _quzhou_one(性别="未知")] == ["性别"]


def test_sex_may_be_left_blank_where_the_city_does_not_require_it():
    assert _quzhou_one(性别="") == []


def test_sex_is_required_where_the_city_requires_it(template_roster, zjk_format):
    p = person(3)
    data = template_roster.build([p], put={(4, "sex"): None})

    result = read_roster(data, "x.xlsx", zjk_format)

    assert [(e.row, e.column, e.reason) for e in result.errors] == [(4, "性别", "性别为空")]


def test_a_missing_id_or_name_is_an_error():
    assert _quzhou_one(身份证号码="") == [("身份证号码", "身份证号码为空")]
    assert _quzhou_one(姓名="") == [("姓名", "姓名为空")]


def test_a_name_with_digits_is_an_error_and_padded_names_are_joined():
    assert [c for c, _ in _quzhou_one(姓名="王伟2")] == ["姓名"]
    p = person(42)
    data = xlsx_bytes({"Sheet2": [QUZHOU_HEADER, [1, "王  伟", p.sex, p.id_number, p.phone]]})
    assert read_roster(data, "x.xlsx", QUZHOU).members[0].name == "王伟"


def test_id_checks_come_from_the_kernel():
    p = person(42)
    assert "校验码错误" in _quzhou_one(身份证号码=bad_check_digit(p.id_number))[0][1]
    assert "15位" in _quzhou_one(身份证号码=p.id_number[:6] + p.id_number[8:17])[0][1]
    assert "存成了数字" in _quzhou_one(身份证号码=float(p.id_number[:17] + "0"))[0][1]


def test_a_lower_case_x_is_accepted():
    p = next(person(i) for i in range(200) if person(i).id_number.endswith("X"))
    data = xlsx_bytes({"Sheet2": [QUZHOU_HEADER, [1, p.name, p.sex, p.id_number.lower(), p.phone]]})

    result = read_roster(data, "x.xlsx", QUZHOU)

    assert result.errors == () and result.members[0].id_number == p.id_number


def test_phone_checks():
    assert [c for c, _ in _quzhou_one(手机号码="1390000")] == ["手机号码"]
    assert _quzhou_one(手机号码=13912345678) == []  # typed as a number: nothing lost
    assert _quzhou_one(手机号码="") == []  # optional in Quzhou


def test_the_other_columns_are_kept_as_text():
    p = person(5)
    rows = [
        ["序号", "乡镇", "姓名", "身份证号码", "手机号码", "工作单位", "工会卡卡号", "签字"],
        [1, "湖塘镇", p.name, p.id_number, p.phone, "某某公司", "6228480012345678901", "王伟"],
        [2, "牛塘镇", person(6).name, person(6).id_number, "", "某某厂", 62284800123456.0, ""],
    ]

    result = read_roster(xlsx_bytes({"授权签字汇总表": rows}), "x.xlsx", WUJIN)

    assert result.errors == ()
    assert dict(result.members[0].fields) == {
        "town": "湖塘镇",
        "workplace": "某某公司",
        "card_number": "6228480012345678901",
        "signature": "王伟",
    }
    assert result.members[1].fields["card_number"] == "62284800123456"
    assert result.members[1].phone is None


def test_a_card_number_stored_as_a_number_that_lost_digits_is_refused():
    p = person(5)
    rows = [
        ["序号", "乡镇", "姓名", "身份证号码", "手机号码", "工作单位", "工会卡卡号"],
        [1, "湖塘镇", p.name, p.id_number, p.phone, "某某公司", 6228480012345678901],
    ]

    result = read_roster(xlsx_bytes({"授权签字汇总表": rows}), "x.xlsx", WUJIN)

    assert [(e.row, e.column) for e in result.errors] == [(2, "工会卡卡号")]
    assert "第15位以后" in result.errors[0].reason


def test_wujin_signature_column_matches_its_long_title():
    p = person(5)
    long_title = "签字 (自愿同意参加武进区在职职工医疗互助保障,并同意缴纳参保资金 20 元)"
    rows = [["姓名", "身份证号码", "工会卡卡号", long_title], [p.name, p.id_number, "6228", "王伟"]]

    result = read_roster(xlsx_bytes({"汇总": rows}), "x.xlsx", WUJIN)

    assert result.members[0].fields["signature"] == "王伟"


def test_zhangjiakou_insured_and_remark_columns(template_roster, zjk_format):
    data = template_roster.build([person(1)], put={(4, "insured"): "无", (4, "remark"): "在职"})

    member = read_roster(data, "x.xlsx", zjk_format).members[0]

    assert dict(member.fields) == {"insured": "无", "remark": "在职"}


def test_duplicates_name_the_first_row_and_every_later_one():
    p, q = person(1), person(2)
    rows = quzhou_rows([p, q, p, p])

    result = read_roster(xlsx_bytes({"Sheet2": rows}), "x.xlsx", QUZHOU)

    assert [(e.row, e.reason) for e in result.errors] == [
        (6, "身份证号码与第4行重复，同一人只能填写一次"),
        (7, "身份证号码与第4行重复，同一人只能填写一次"),
    ]


def test_full_width_and_blank_padded_ids_are_the_same_person_for_duplicates():
    p = person(1)
    twin = Person(p.name, p.sex, " " + full_width(p.id_number), p.phone)

    result = read_roster(xlsx_bytes({"Sheet2": quzhou_rows([p, twin])}), "x.xlsx", QUZHOU)

    assert [e.row for e in result.errors] == [5]


def test_nobody_elsewhere_means_no_conflict():
    people = [person(i) for i in range(3)]

    result = read_roster(
        xlsx_bytes({"Sheet2": quzhou_rows(people)}), "x.xlsx", QUZHOU, lambda ids: {}
    )

    assert result.importable and len(result.members) == 3


def test_errors_are_sorted_by_row_then_column():
    p, q = person(1), person(2)
    rows = [QUZHOU_HEADER, [1, "王伟1", "女" if p.sex == "男" else "男", p.id_number, "1"]]
    rows.append([2, q.name, q.sex, q.id_number, "2"])

    result = read_roster(
        xlsx_bytes({"Sheet2": rows}), "x.xlsx", QUZHOU, lambda ids: {p.id_number: "甲单位"}
    )

    assert [(e.row, e.column) for e in result.errors] == [
        (2, "姓名"),
        (2, "性别"),
        (2, "身份证号码"),
        (2, "手机号码"),
        (3, "手机号码"),
    ]


def test_a_format_built_directly_is_enough():
    fmt = RosterFormat(
        sheet="名单",
        title="名单",
        columns=(RosterColumn("name", ("职工姓名",)), RosterColumn("id_number", ("证件号码",))),
    )
    p = person(9)
    data = xlsx_bytes({"名单": [["职工姓名", "证件号码"], [p.name, p.id_number]]})

    assert read_roster(data, "x.xlsx", fmt).members[0].id_number == p.id_number


def test_progress_is_reported_while_reading_and_at_the_end(
    monkeypatch, template_roster, five_hundred, zjk_format
):
    from services.enrollment import roster as roster_module

    monkeypatch.setattr(roster_module, "PROGRESS_EVERY", 100)
    calls = []
    result = roster_module.read_roster(
        template_roster.build(five_hundred),
        "p.xlsx",
        zjk_format,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result.importable
    total = calls[-1][1]
    assert calls[-1] == (total, total) and total >= 500
    assert [done for done, _ in calls[:-1]] == list(range(100, total + 1, 100))[: len(calls) - 1]
    assert len(calls) >= 5


# -- the fast path (issue 14) gives the full diagnosis's answers ---------------------------------


def test_the_fast_path_answers_as_the_full_diagnosis_does(monkeypatch):
    """Rows in their normal form skip the full diagnosis; every other row must still get it,
    and a roster must come out the same either way: errors, warnings, members, the order."""
    people = [person(i) for i in range(40)]
    rows = quzhou_rows(people)
    rows[3][3] = people[0].id_number[:17] + "x" if people[0].id_number[17] == "X" else rows[3][3]
    rows[4][3] = full_width(people[1].id_number)  # a warning, still a member
    rows[5][3] = bad_check_digit(people[2].id_number)
    rows[6][1:5] = rows[3][1:5]  # the same person twice (lower-case x)
    rows[22][1:5] = rows[21][1:5]  # twice, in normal form
    rows[7][2] = "女" if people[4].sex == "男" else "男"  # the sex against the ID
    rows[8][4] = "139-0000-0005"  # normalised
    rows[9][4] = 13900000006.0  # a number: still a phone
    rows[10][4] = "12345"
    rows[11][2] = ""  # no sex given: optional
    rows[12][5] = "  在职  "  # an extra column, stripped
    rows[13][5] = "   "  # blank
    rows[14][1] = "张  三"  # padded
    rows[15][1] = "王3"
    rows[16][3] = int(people[14].id_number[:15])  # an ID stored as a number
    rows[17][3] = people[15].id_number[:6] + "20991231" + people[15].id_number[14:]
    rows[18][1] = "李" * 60  # too long
    rows[19][2] = " 男 " if people[17].sex == "男" else " 女 "
    rows[20] = [18, "", "", "", "", ""]  # only 序号
    rows[24][2] = 1.0  # a sex that is a number
    rows[25][1] = 3.0  # a name that is a number
    data = xlsx_bytes({"Sheet2": rows})

    fast = read_roster(data, "名册.xlsx", QUZHOU, today=date(2025, 1, 1))
    # no errors, so the members are compared too: rows in their normal form, and rows that
    # are members only once the diagnosis has normalised them
    clean = quzhou_rows(people[20:])
    clean[3][3] = full_width(people[20].id_number)  # a warning
    clean[4][4] = "139-0000-0005"
    clean[5][4] = 13900000006.0
    clean[6][2] = ""  # optional
    clean[7][5] = "  在职  "
    clean[8][5] = "   "
    clean[9][5] = 12.0  # an extra column holding a number: "12"
    clean[10][1] = "张  三"
    clean[11][2] = " 男 " if people[28].sex == "男" else " 女 "
    clean_fast = read_roster(xlsx_bytes({"Sheet2": clean}), "名册.xlsx", QUZHOU)

    monkeypatch.setattr(roster, "_plain_name", lambda: lambda name: None)  # no fast path
    full = read_roster(data, "名册.xlsx", QUZHOU, today=date(2025, 1, 1))
    clean_full = read_roster(xlsx_bytes({"Sheet2": clean}), "名册.xlsx", QUZHOU)

    assert len(fast.errors) >= 8 and fast.warnings  # the roster does exercise the diagnosis
    assert fast == full
    assert clean_fast.importable and len(clean_fast.members) == 20 and clean_fast.warnings
    assert clean_fast == clean_full
