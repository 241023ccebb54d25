"""Opening an uploaded spreadsheet, and saying in one sentence why it cannot be opened.

Clerks upload .xls (the seeds ask for ``<单位名称><年度>.xls``), .xlsx and .ods; they also
upload screenshots, CSV or HTML exports renamed .xls, files locked with an opening password
and half-copied files. What a file is comes from its first bytes, never from its name:
python-calamine answers every one of those with the same "Cannot detect file format".

Encryption is recognised before calamine is asked, because calamine cannot tell it apart:
an encrypted .xlsx is an OLE2 compound file holding ``EncryptionInfo`` and
``EncryptedPackage`` streams ([MS-OFFCRYPTO] 2.3.4), an encrypted .xls has a FILEPASS record
right after the BOF of its ``Workbook`` stream ([MS-XLS] 2.4.117; calamine refuses only
RC4 there and would read XOR-obfuscated records as garbage), an encrypted .ods lists
``encryption-data`` in its manifest. Reading that much of a compound file is the small
``_CompoundFile`` below: olefile would do it too but is not a dependency, and only the
directory names and the first sector of one stream are needed.
"""

from __future__ import annotations

import io
import struct
import zipfile

from python_calamine import CalamineError, CalamineWorkbook, PasswordError


class RosterUnreadable(Exception):
    """The upload cannot be read as a roster at all; the message says why and what to do."""


_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")
_ZIP = b"PK\x03\x04"
_ODS = b"application/vnd.oasis.opendocument.spreadsheet"
_SAVE_AS = "请在 Excel 或 WPS 中打开后“另存为” .xlsx 或 .xls 再上传"
_PASSWORD = "设置了打开密码（文件已加密），系统无法读取；请在 Excel 或 WPS 中取消打开密码后重新上传"
_CORRUPT = "已损坏或不完整（可能没有下载或复制完整），无法打开；请重新保存后再上传"

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


def open_workbook(data: bytes, filename: str) -> CalamineWorkbook:
    """The workbook in ``data``, or RosterUnreadable naming the file and the reason."""
    kind = sniff(data, filename)
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError:
        raise RosterUnreadable(f"{filename}：{_PASSWORD}") from None
    except CalamineError:
        raise RosterUnreadable(f"{filename}：这个{kind}{_CORRUPT}") from None


def sniff(data: bytes, filename: str) -> str:
    """What kind of workbook the bytes hold ("Excel 工作簿（.xlsx）" …), or RosterUnreadable."""
    if not data:
        raise RosterUnreadable(f"{filename}：文件是空的（0 字节），请重新选择填好的名册文件")
    if data.startswith(_ZIP):
        return _sniff_zip(data, filename)
    if data.startswith(_OLE2):
        return _sniff_compound(data, filename)
    for magic, label in _OTHER_KINDS:
        if data.startswith(magic):
            raise RosterUnreadable(
                f"{filename}：这是{label}，不是 Excel 工作簿；请上传 .xls、.xlsx 或 .ods 名册"
            )
    raise RosterUnreadable(f"{filename}：{_describe_text(data)}")


def _sniff_zip(data: bytes, filename: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
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


def _sniff_compound(data: bytes, filename: str) -> str:
    try:
        ole = _CompoundFile(data)
        names = ole.names()
        if "encryptedpackage" in names or "encryptioninfo" in names:
            raise RosterUnreadable(f"{filename}：{_PASSWORD}")
        stream = "workbook" if "workbook" in names else "book" if "book" in names else None
        if stream is None:
            found = (
                "Word 文档 (.doc)"
                if "worddocument" in names
                else "Office 文件，但不是 Excel 工作簿"
            )
            raise RosterUnreadable(f"{filename}：这是{found}；请上传 .xls、.xlsx 或 .ods 名册")
        if _has_filepass(ole.head(stream)):
            raise RosterUnreadable(f"{filename}：{_PASSWORD}")
    except (ValueError, IndexError, struct.error):
        raise RosterUnreadable(f"{filename}：文件{_CORRUPT}") from None
    return "Excel 97-2003 工作簿（.xls）"


def _has_filepass(head: bytes) -> bool:
    """A FILEPASS record among the globals' first records (it follows BOF, [MS-XLS] 2.1.7.20)."""
    at = 0
    while at + 4 <= len(head):
        kind, length = struct.unpack_from("<HH", head, at)
        if kind == 0x002F:
            return True
        if kind in (0x0085, 0x000A, 0x00FC):  # BoundSheet, EOF, SST: past where FILEPASS goes
            return False
        at += 4 + length
    return False


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


_LAST_SECTOR = 0xFFFFFFFA  # sector numbers from here up are markers (end of chain, free, …)


class _CompoundFile:
    """Just enough of an OLE2 compound file ([MS-CFB]) to list names and read a stream's start."""

    def __init__(self, data: bytes):
        if len(data) < 512:
            raise ValueError("shorter than a compound file header")
        self.data = data
        self.sector = 1 << struct.unpack_from("<H", data, 30)[0]
        if self.sector not in (512, 4096):
            raise ValueError("bad sector size")
        self.mini_cutoff = struct.unpack_from("<I", data, 56)[0]
        per = self.sector // 4
        self.difat = list(struct.unpack_from("<109I", data, 76))
        following, count = struct.unpack_from("<II", data, 68)
        while following < _LAST_SECTOR and count > 0:
            entries = struct.unpack_from(f"<{per}I", data, self._offset(following))
            self.difat.extend(entries[:-1])
            following, count = entries[-1], count - 1
        self.entries: dict[str, tuple[int, int]] = {}  # casefolded name -> (start, size)
        self.root = (_LAST_SECTOR, 0)
        for sector in self._chain(struct.unpack_from("<I", data, 48)[0]):
            base = self._offset(sector)
            for at in range(base, base + self.sector, 128):
                length, kind = struct.unpack_from("<HB", data, at + 64)
                if kind not in (1, 2, 5) or not 2 <= length <= 64:
                    continue
                name = data[at : at + length - 2].decode("utf-16-le", "replace").casefold()
                start, size = struct.unpack_from("<II", data, at + 116)
                if kind == 5:
                    self.root = (start, size)
                else:
                    self.entries.setdefault(name, (start, size))

    def names(self) -> set[str]:
        return set(self.entries)

    def head(self, name: str, limit: int = 512) -> bytes:
        """The first bytes of a stream (its first sector, or first mini sector if it is small)."""
        start, size = self.entries[name]
        if size >= self.mini_cutoff:
            at = self._offset(start)
            return self.data[at : at + min(limit, size, self.sector)]
        # A small stream lives in the mini stream: 64-byte sectors inside the root's chain.
        position = start * 64
        for index, sector in enumerate(self._chain(self.root[0])):
            if index == position // self.sector:
                at = self._offset(sector) + position % self.sector
                return self.data[at : at + min(limit, size, 64)]
        raise ValueError("mini stream shorter than its directory says")

    def _offset(self, sector: int) -> int:
        at = (sector + 1) * self.sector
        if at + self.sector > len(self.data):
            raise ValueError("sector past the end of the file")
        return at

    def _next(self, sector: int) -> int:
        per = self.sector // 4
        fat_sector = self.difat[sector // per]
        return struct.unpack_from("<I", self.data, self._offset(fat_sector) + sector % per * 4)[0]

    def _chain(self, sector: int):
        seen: set[int] = set()
        while sector < _LAST_SECTOR:
            if sector in seen:
                raise ValueError("sector chain loops")
            seen.add(sector)
            yield sector
            sector = self._next(sector)
