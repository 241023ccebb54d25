"""`mutual-aid roster check` and `mutual-aid template`: JSON on stdout, exit 0 / 1 / 2."""

from __future__ import annotations

import json
import resource
import time

import openpyxl

from services.cli import main
from tests.enrollment.files import xlsx_bomb, xlsx_bytes
from tests.enrollment.samples import person


def _run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else None), err


def test_template_default_name_in_the_current_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    code, answer, _ = _run(capsys, "template", "--city", "zhangjiakou", "--year", "2024")

    assert code == 0 and answer["written"] == "张家口市2024.xlsx"
    assert openpyxl.load_workbook(tmp_path / "张家口市2024.xlsx").sheetnames == [
        "团体申请表",
        "人员名册",
    ]


def test_template_to_a_named_file(capsys, tmp_path):
    out = tmp_path / "模板.xlsx"

    code, answer, _ = _run(
        capsys, "template", "--city", "zhangjiakou", "--year", "2024", "-o", str(out)
    )

    assert code == 0 and answer["written"] == str(out) and out.exists()


def test_template_refuses_xls_output(capsys, tmp_path):
    code, answer, err = _run(
        capsys, "template", "--city", "zhangjiakou", "--year", "2024", "-o", str(tmp_path / "a.xls")
    )

    assert code == 2 and answer is None
    assert err.count("\n") == 1 and ".xlsx" in err


def test_check_a_clean_roster_exits_0(capsys, tmp_path, template_roster, five_hundred):
    path = tmp_path / "某某单位工会2024.xlsx"
    path.write_bytes(template_roster.build(five_hundred))

    code, answer, _ = _run(
        capsys, "roster", "check", str(path), "--city", "zhangjiakou", "--year", "2024"
    )

    assert code == 0
    assert answer["rows"] == 500 and answer["errors"] == [] and answer["warnings"] == []
    assert answer["report"] is None


def test_check_a_roster_with_errors_exits_1_and_writes_the_report(capsys, tmp_path, faulty_roster):
    path = tmp_path / "名册.xlsx"
    path.write_bytes(faulty_roster.data)
    report = tmp_path / "错误报告.xlsx"

    code, answer, _ = _run(
        capsys,
        "roster",
        "check",
        str(path),
        "--city",
        "zhangjiakou",
        "--year",
        "2024",
        "--report",
        str(report),
    )

    assert code == 1
    # no database behind the CLI: the person enrolled elsewhere is not known here
    assert [e["row"] for e in answer["errors"]] == [
        faulty_roster.numeric_row,
        faulty_roster.check_digit_row,
        faulty_roster.duplicate_row,
    ]
    assert set(answer["errors"][0]) == {"row", "column", "reason"}
    assert answer["rows"] == 500 and answer["report"] == str(report)
    assert "错误清单" in openpyxl.load_workbook(report).sheetnames


def test_an_unreadable_file_exits_2_with_one_line(capsys, tmp_path):
    path = tmp_path / "空.xls"
    path.write_bytes(b"")

    code, answer, err = _run(
        capsys, "roster", "check", str(path), "--city", "zhangjiakou", "--year", "2024"
    )

    assert code == 2 and answer is None
    assert err == "mutual-aid: 空.xls：文件是空的（0 字节），请重新选择填好的名册文件\n"


def test_a_missing_file_exits_2(capsys, tmp_path):
    code, _, err = _run(
        capsys,
        "roster",
        "check",
        str(tmp_path / "无.xls"),
        "--city",
        "zhangjiakou",
        "--year",
        "2024",
    )

    assert code == 2 and "cannot read" in err


def test_a_roster_for_another_city_says_which_column_is_missing(capsys, tmp_path):
    p = person(1)
    rows = [
        ["序号", "乡镇", "姓名", "身份证号码", "工会卡卡号"],
        [1, "湖塘镇", p.name, p.id_number, "6228"],
    ]
    path = tmp_path / "武进.xlsx"
    path.write_bytes(xlsx_bytes({"授权签字汇总表": rows}))

    code, answer, err = _run(
        capsys, "roster", "check", str(path), "--city", "zhangjiakou", "--year", "2024"
    )

    # Zhangjiakou's roster needs 性别
    assert code == 2 and answer is None
    assert "缺少必需的列：性别" in err


def test_the_console_script_exit_codes(mutual_aid, tmp_path, faulty_roster):
    path = tmp_path / "名册.xlsx"
    path.write_bytes(faulty_roster.data)

    run = mutual_aid("roster", "check", str(path), "--city", "zhangjiakou", "--year", "2024")

    assert run.code == 1 and json.loads(run.stdout)["importable"] is False
    assert mutual_aid("roster", "check", "--city", "zhangjiakou").code == 2


def test_a_workbook_expanding_to_2_gib_exits_2_at_once(capsys, tmp_path):
    # 6 MB on disk, a sheet of 2 GiB inside: refused from the zip's directory, never read
    path = tmp_path / "名册.xlsx"
    path.write_bytes(xlsx_bomb())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()

    code, answer, err = _run(
        capsys, "roster", "check", str(path), "--city", "quzhou", "--year", "2025"
    )

    assert time.perf_counter() - started < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 100 * 1024  # KiB
    assert code == 2 and answer is None
    assert err.count("\n") == 1
    assert err.startswith("mutual-aid: 名册.xlsx：文件解压后有 2048 MB，超过 200 MB 的上限")
