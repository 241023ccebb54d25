"""Opening an uploaded spreadsheet, and saying in one sentence why it cannot be opened.

Clerks upload .xls (the seeds ask for ``<单位名称><年度>.xls``), .xlsx and .ods; they also
upload screenshots, CSV or HTML exports renamed .xls, files locked with an opening password
and half-copied files. What a file is comes from its first bytes, never from its name:
python-calamine answers every one of those with the same "Cannot detect file format".

Encryption is recognised before calamine is asked, because calamine cannot tell it apart:
an encrypted .xlsx is an OLE2 compound file holding ``EncryptionInfo`` and
``EncryptedPackage`` streams ([MS-OFFCRYPTO] 2.3.4; olefile lists them), an encrypted .xls
has a FILEPASS record after the BOF of its ``Workbook`` stream (msoffcrypto-tool's
``is_encrypted``; calamine refuses only RC4 there and would read XOR-obfuscated records as
garbage), an encrypted .ods lists ``encryption-data`` in its manifest.

Limits come before any reading (WorkbookLimits): a .xlsx or .ods is a zip, and a 5 MB one can
hold a sheet that expands to 2 GiB, which calamine would hold in memory for seconds. The zip's
directory declares every member's size; a workbook declaring more than the limit in all, or
a member compressed far beyond what a spreadsheet compresses, is refused from the directory
alone. A member that lies about its size gets no further: calamine's zip reader stops at the
declared size (and the file is then called damaged). A .xls is not compressed: its own size
bounds what reading it takes.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass

import msoffcrypto
import olefile
from msoffcrypto.exceptions import FileFormatError, ParseError
from python_calamine import CalamineError, CalamineWorkbook, PasswordError

from services.enrollment.exceptions import RosterUnreadable

MB = 1024 * 1024


@dataclass(frozen=True)
class WorkbookLimits:
    """What a workbook may declare before it is read (config ``WORKBOOK_LIMITS``).

    A 100 000-row roster written by openpyxl declares 31 MB with its sheet compressed 10:1;
    Excel and WPS sheets full of styled cells reach a few tens to one. Deflate itself stops
    near 1 000:1, where bombs sit.
    """

    uncompressed: int = 200 * MB  # every member of a .xlsx / .ods together, as declared
    ratio: int = 100  # a member's size over its compressed size ...
    ratio_from: int = 1 * MB  # ... for members larger than this (small XML compresses well)
    compound: int = 64 * MB  # a .xls file

    @classmethod
    def from_config(cls, config: dict | None) -> WorkbookLimits:
        """From ``{"uncompressed_mb": 200, "ratio": 100, "xls_mb": 64}``; missing keys keep
        their defaults."""
        config = config or {}
        default = cls()
        return cls(
            uncompressed=int(config.get("uncompressed_mb", default.uncompressed // MB)) * MB,
            ratio=int(config.get("ratio", default.ratio)),
            compound=int(config.get("xls_mb", default.compound // MB)) * MB,
        )


DEFAULT_LIMITS = WorkbookLimits()

_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")
_ZIP = b"PK\x03\x04"
_ODS = b"application/vnd.oasis.opendocument.spreadsheet"
_SAVE_AS = "请在 Excel 或 WPS 中打开后“另存为” .xlsx 或 .xls 再上传"
_PASSWORD = "设置了打开密码（文件已加密），系统无法读取；请在 Excel 或 WPS 中取消打开密码后重新上传"
_CORRUPT = "已损坏或不完整（可能没有下载或复制完整），无法打开；请重新保存后再上传"
_TOO_BIG = "系统不读取这样的文件；请删除多余的空行、空列和格式，或分成几个文件后重新上传"

# First bytes of files that are not spreadsheets but get uploaded as one.
_OTHER_KINDS = (
    (b"\x89PNG\r\n\x1a\n", "PNG 图片"),
    (b"\xff\xd8\xff", "JPEG 图片"),
    (b"GIF8", "GIF 图片"),
    (b"BM", "BMP 图片"),
    (b"%PDF", "PDF 文件"),
    (b"Rar!", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (b"\x1f\x8b", "gzip 压缩包"),
    (b"{\\rtf", "RTF 文档"),
)


def open_workbook(
    data: bytes, filename: str, limits: WorkbookLimits = DEFAULT_LIMITS
) -> CalamineWorkbook:
    """The workbook in ``data``, or RosterUnreadable naming the file and the reason."""
    kind = sniff(data, filename, limits)
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError:
        raise RosterUnreadable(f"{filename}：{_PASSWORD}") from None
    except CalamineError:
        raise RosterUnreadable(f"{filename}：这个{kind}{_CORRUPT}") from None


def sniff(data: bytes, filename: str, limits: WorkbookLimits = DEFAULT_LIMITS) -> str:
    """What kind of workbook the bytes hold ("Excel 工作簿（.xlsx）" …), or RosterUnreadable."""
    if not data:
        raise RosterUnreadable(f"{filename}：文件是空的（0 字节），请重新选择填好的名册文件")
    if data.startswith(_ZIP):
        return _sniff_zip(data, filename, limits)
    if data.startswith(_OLE2):
        return _sniff_compound(data, filename, limits)
    for magic, label in _OTHER_KINDS:
        if data.startswith(magic):
            raise RosterUnreadable(
                f"{filename}：这是{label}，不是 Excel 工作簿；请上传 .xls、.xlsx 或 .ods 名册"
            )
    raise RosterUnreadable(f"{filename}：{_describe_text(data)}")


def _sniff_zip(data: bytes, filename: str, limits: WorkbookLimits) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _within(archive.infolist(), filename, limits)
            names = set(archive.namelist())
            mimetype = archive.read("mimetype").strip() if "mimetype" in names else b""
            manifest = (
                archive.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
            )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError):
        raise RosterUnreadable(f"{filename}：文件{_CORRUPT}") from None
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return "Excel 工作簿（.xlsx）"
    if mimetype == _ODS:
        if b"encryption-data" in manifest:
            raise RosterUnreadable(f"{filename}：{_PASSWORD}")
        return "OpenDocument 表格（.ods）"
    if "word/document.xml" in names or mimetype.startswith(
        b"application/vnd.oasis.opendocument.text"
    ):
        found = "Word 文档"
    elif "ppt/presentation.xml" in names:
        found = "PowerPoint 演示文稿"
    else:
        found = "zip 压缩包"
    raise RosterUnreadable(
        f"{filename}：这是{found}，不是 Excel 工作簿；请上传 .xls、.xlsx 或 .ods 名册"
    )


def _within(members: list[zipfile.ZipInfo], filename: str, limits: WorkbookLimits) -> None:
    """RosterUnreadable when the zip's directory declares more than ``limits`` allow."""
    total = sum(m.file_size for m in members)
    if total > limits.uncompressed:
        raise RosterUnreadable(
            f"{filename}：文件解压后有 {_mb(total)}，超过 {_mb(limits.uncompressed)} 的上限；"
            + _TOO_BIG
        )
    for member in members:
        if member.file_size > limits.ratio_from:
            ratio = member.file_size / max(member.compress_size, 1)
            if ratio > limits.ratio:
                raise RosterUnreadable(
                    f"{filename}：文件中的「{member.filename}」压缩了 {ratio:.0f} 倍"
                    f"（解压后 {_mb(member.file_size)}），超过 {limits.ratio} 倍的上限，"
                    f"不像正常的工作簿；" + _TOO_BIG
                )


def _sniff_compound(data: bytes, filename: str, limits: WorkbookLimits) -> str:
    # A compound file is not compressed: what it weighs is about what reading it takes.
    if len(data) > limits.compound:
        raise RosterUnreadable(
            f"{filename}：文件 {_mb(len(data))}，超过 .xls 工作簿 {_mb(limits.compound)} 的上限，"
            f"系统不读取；{_SAVE_AS}"
        )
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
        if ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage"):
            raise RosterUnreadable(f"{filename}：{_PASSWORD}")
        if not (ole.exists("Workbook") or ole.exists("Book")):
            found = (
                "Word 文档 (.doc)"
                if ole.exists("WordDocument")
                else "Office 文件，但不是 Excel 工作簿"
            )
            raise RosterUnreadable(f"{filename}：这是{found}；请上传 .xls、.xlsx 或 .ods 名册")
        # msoffcrypto reads BIFF8's Workbook stream only; a BIFF5 Book is left to calamine
        if ole.exists("Workbook") and msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted():
            raise RosterUnreadable(f"{filename}：{_PASSWORD}")
    except (OSError, ValueError, AssertionError, struct.error, FileFormatError, ParseError):
        raise RosterUnreadable(f"{filename}：文件{_CORRUPT}") from None
    return "Excel 97-2003 工作簿（.xls）"


def _describe_text(data: bytes) -> str:
    head = data[:4096]
    for encoding in ("utf-8-sig", "gb18030", "utf-16"):
        try:
            text = head.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        return "无法识别的文件类型，不是 Excel 工作簿；请上传 .xls、.xlsx 或 .ods 名册"
    lowered = text.lstrip().lower()
    if "urn:schemas-microsoft-com:office:spreadsheet" in lowered:
        return f"这是 Excel 2003 XML 表格，系统不能读取；{_SAVE_AS}"
    if (
        lowered.startswith(("<html", "<!doctype", "<table", "<?xml", "<meta"))
        or "<table" in lowered
    ):
        return f"这是网页（HTML）文件改成了表格的扩展名，不是真正的 Excel 工作簿；{_SAVE_AS}"
    return f"这是文本文件（如 CSV 或 TXT），不是 Excel 工作簿；{_SAVE_AS}"


def _mb(size: int) -> str:
    return f"{size / MB:.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"
