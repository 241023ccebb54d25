"""Uploads that are not a readable workbook: each gives one clear message naming the file."""

from __future__ import annotations

import io
import resource
import time
import zipfile

import msoffcrypto
import pytest

from services.enrollment.roster import RosterUnreadable, read_roster
from services.enrollment.workbook import MB, WorkbookLimits, open_workbook, sniff
from tests.enrollment.files import (
    cfb_bytes,
    ods_bytes,
    with_filepass,
    xls_biff,
    xls_bytes,
    xlsx_bomb,
    xlsx_bytes,
    zip_bomb,
)
from tests.enrollment.samples import QUZHOU, person, quzhou_rows

ROSTER = {"Sheet2": quzhou_rows([person(1), person(2)])}


def _refusal(data: bytes, filename: str = "某某单位工会2025.xls") -> str:
    with pytest.raises(RosterUnreadable) as caught:
        read_roster(data, filename, QUZHOU)
    message = str(caught.value)
    assert message.startswith(f"{filename}：")
    assert "\n" not in message
    return message


def test_zero_bytes():
    assert "0 字节" in _refusal(b"")


def test_a_png_renamed_xlsx():
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 200
    assert "这是PNG 图片，不是 Excel 工作簿" in _refusal(png, "名册.xlsx")


def test_a_csv_renamed_xlsx():
    text = "序号,姓名,身份证号码\n1,王伟,110102196501010006\n".encode("gb18030")
    message = _refusal(text, "名册.xlsx")
    assert "文本文件" in message and "另存为" in message


def test_an_html_table_renamed_xls():
    html = "<html><body><table><tr><td>姓名</td></tr></table></body></html>".encode()
    assert "网页（HTML）" in _refusal(html)


def test_a_word_document_renamed_xlsx():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    assert "这是Word 文档" in _refusal(out.getvalue(), "名册.xlsx")


def test_a_zip_of_rosters():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("名册.xls", xls_bytes(ROSTER))
    assert "zip 压缩包" in _refusal(out.getvalue(), "名册.zip")


def test_a_truncated_xlsx_is_corrupt():
    data = xlsx_bytes(ROSTER)
    message = _refusal(data[: len(data) // 2], "名册.xlsx")
    assert "已损坏或不完整" in message


def test_an_xlsx_whose_sheet_xml_is_broken_is_corrupt():
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes(ROSTER)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for item in source.infolist():
            body = source.read(item)
            if item.filename.startswith("xl/worksheets/"):
                body = body[: len(body) // 2]
            archive.writestr(item, body)
    assert "已损坏" in _refusal(out.getvalue(), "名册.xlsx")


def test_a_truncated_xls_is_corrupt():
    data = xls_bytes(ROSTER)
    assert "已损坏或不完整" in _refusal(data[:1000])


def test_a_password_protected_xlsx():
    # what Excel writes for "encrypt with password": a compound file, not a zip
    data = cfb_bytes(
        {
            "EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00" + b"\0" * 300,
            "EncryptedPackage": b"\x10" * 6000,
        }
    )
    assert "打开密码" in _refusal(data, "名册.xlsx")


@pytest.mark.parametrize("encryption", [1, 0], ids=["rc4", "xor"])
def test_a_password_protected_xls(encryption):
    biff = xls_biff(ROSTER)
    assert "打开密码" in _refusal(cfb_bytes({"Workbook": with_filepass(biff, encryption)}))


def test_the_compound_file_writer_makes_readable_xls_so_the_refusals_above_mean_something():
    biff = xls_biff(ROSTER)
    for padded in (biff, biff.ljust(5000, b"\0")):  # in the mini stream, and in sectors
        result = read_roster(cfb_bytes({"Workbook": padded}), "x.xls", QUZHOU)
        assert [m.id_number for m in result.members] == [person(1).id_number, person(2).id_number]


def test_an_xlsx_encrypted_by_msoffcrypto(tmp_path):
    # a real "encrypt with password" workbook, as Excel writes it (ECMA-376 agile encryption)
    plain = tmp_path / "plain.xlsx"
    plain.write_bytes(xlsx_bytes(ROSTER))
    locked = io.BytesIO()
    with plain.open("rb") as source:
        msoffcrypto.OfficeFile(source).encrypt("123456", locked)
    assert "打开密码" in _refusal(locked.getvalue(), "名册.xlsx")


def test_a_password_protected_ods():
    assert "打开密码" in _refusal(ods_bytes(ROSTER, encrypted=True), "名册.ods")


def test_a_word_97_document_renamed_xls():
    assert "Word 文档 (.doc)" in _refusal(cfb_bytes({"WordDocument": b"\xec\xa5" + b"\0" * 5000}))


def test_sniff_names_what_it_accepts():
    assert sniff(xls_bytes(ROSTER), "a") == "Excel 97-2003 工作簿（.xls）"
    assert sniff(xlsx_bytes(ROSTER), "a") == "Excel 工作簿（.xlsx）"
    assert sniff(ods_bytes(ROSTER), "a") == "OpenDocument 表格（.ods）"


def test_a_missing_file_path():
    with pytest.raises(RosterUnreadable, match="无法读取文件"):
        read_roster("/nonexistent/名册.xls", None, QUZHOU)


# -- limits before reading ------------------------------------------------------------------

GIB = 1024 * MB
SHEET = "xl/worksheets/sheet1.xml"


def _refused_fast(data: bytes, filename: str = "名册.xlsx") -> str:
    """The refusal, given in well under a second and without taking memory for the sheet."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    message = _refusal(data, filename)
    assert time.perf_counter() - started < 0.5
    # ru_maxrss is in KiB: the process's peak grew by less than 100 MB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 100 * 1024
    return message


def test_a_sheet_expanding_to_2_gib_is_refused_from_the_zip_directory():
    data = xlsx_bomb()
    assert len(data) < 8 * MB

    message = _refused_fast(data)

    assert "解压后有 2048 MB，超过 200 MB 的上限" in message


def test_a_member_compressed_far_beyond_a_spreadsheet_is_refused_by_its_ratio():
    message = _refused_fast(xlsx_bomb(150 * MB))  # under the size limit, 340:1
    assert f"「{SHEET}」压缩了" in message and "超过 100 倍的上限" in message


def test_an_ods_bomb_is_refused_too():
    data = zip_bomb(ods_bytes(ROSTER), "content.xml", 2 * GIB)
    assert "解压后有 2048 MB" in _refused_fast(data, "名册.ods")


def test_a_bomb_that_lies_about_its_size_is_stopped_at_the_size_it_declared():
    # the directory says 100 kB: under every limit, and calamine stops reading there
    message = _refused_fast(xlsx_bomb(2 * GIB, declared=100_000))
    assert "已损坏" in message


def test_a_real_roster_is_far_inside_the_limits():
    data = xlsx_bytes({"Sheet2": quzhou_rows([person(i) for i in range(2000)])})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.getinfo(SHEET)
    # 2 000 rows: 0.6 MB at about 10:1 (100 000 rows: 31 MB, still 10:1)
    assert sheet.file_size / sheet.compress_size < 15
    assert len(read_roster(data, "a.xlsx", QUZHOU).members) == 2000


def test_the_limits_are_configurable():
    limits = WorkbookLimits.from_config({"uncompressed_mb": 3000, "ratio": 1000})
    assert limits.uncompressed == 3000 * MB and limits.ratio == 1000
    assert WorkbookLimits.from_config(None) == WorkbookLimits()
    strict = WorkbookLimits(uncompressed=MB // 2)
    data = xlsx_bytes({"Sheet2": quzhou_rows([person(i) for i in range(2000)])})
    with pytest.raises(RosterUnreadable, match="超过 0.5 MB 的上限"):
        open_workbook(data, "a.xlsx", strict)
    assert open_workbook(data, "a.xlsx").sheet_names == ["Sheet2"]


def test_an_xls_is_bounded_by_its_size():
    data = xls_bytes(ROSTER)
    with pytest.raises(RosterUnreadable, match=r"^a.xls：文件 0.0 MB，超过 .xls 工作簿 0.0 MB"):
        sniff(data, "a.xls", WorkbookLimits(compound=len(data) - 1))
    assert sniff(data, "a.xls", WorkbookLimits(compound=len(data))).endswith("（.xls）")
