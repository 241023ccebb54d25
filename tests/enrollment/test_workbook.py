"""Uploads that are not a readable workbook: each gives one clear message naming the file."""

from __future__ import annotations

import io
import zipfile

import pytest

from services.enrollment.roster import RosterUnreadable, read_roster
from services.enrollment.workbook import sniff
from tests.enrollment.files import (
    cfb_bytes,
    ods_bytes,
    with_filepass,
    xls_biff,
    xls_bytes,
    xlsx_bytes,
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
