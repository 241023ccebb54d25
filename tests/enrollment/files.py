"""Spreadsheet files written on the spot: .xlsx (openpyxl), .xls (xlwt), .ods (a minimal
OpenDocument zip written by hand: no installed library writes .ods) and OLE2 compound files
(a small writer, to build the encrypted workbooks no installed library makes)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from functools import cache
from xml.sax.saxutils import escape

import openpyxl
import xlwt


def xlsx_bytes(sheets: dict[str, list[list]], merges: dict[str, list[str]] | None = None) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None and value != "":
                    sheet.cell(r, c, value)
        for span in (merges or {}).get(name, []):
            sheet.merge_cells(span)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xls_bytes(sheets: dict[str, list[list]], merged_title: bool = True) -> bytes:
    """An Excel 97-2003 file; the first row of each sheet merged across when it is a title."""
    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        width = max((len(r) for r in rows), default=1)
        for r, row in enumerate(rows):
            if r == 0 and merged_title and len(row) == 1 and width > 1:
                sheet.write_merge(0, 0, 0, width - 1, row[0])
                continue
            for c, value in enumerate(row):
                if value is not None and value != "":
                    sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xls_biff(sheets: dict[str, list[list]]) -> bytes:
    """The BIFF8 ``Workbook`` stream alone, to put into a compound file of our own."""
    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None and value != "":
                    sheet.write(r, c, value)
    return book.get_biff_data()


def ods_bytes(sheets: dict[str, list[list]], encrypted: bool = False) -> bytes:
    """A minimal OpenDocument spreadsheet: mimetype, content.xml and the manifest."""
    tables = []
    for name, rows in sheets.items():
        cells_xml = []
        for row in rows:
            cells = []
            for value in row:
                if value is None or value == "":
                    cells.append("<table:table-cell/>")
                elif isinstance(value, int | float):
                    cells.append(
                        f'<table:table-cell office:value-type="float" office:value="{value}">'
                        f"<text:p>{value}</text:p></table:table-cell>"
                    )
                else:
                    cells.append(
                        '<table:table-cell office:value-type="string">'
                        f"<text:p>{escape(str(value))}</text:p></table:table-cell>"
                    )
            cells_xml.append("<table:table-row>" + "".join(cells) + "</table:table-row>")
        tables.append(
            f'<table:table table:name="{escape(name)}">{"".join(cells_xml)}</table:table>'
        )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        "<office:body><office:spreadsheet>" + "".join(tables) + "</office:spreadsheet>"
        "</office:body></office:document-content>"
    )
    crypt = (
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x">'
        "</manifest:encryption-data>"
        if encrypted
        else ""
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/"'
        ' manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        f"{crypt}</manifest:file-entry></manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.spreadsheet",
            compress_type=zipfile.ZIP_STORED,
        )
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


_END, _FATSECT, _FREE = 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def cfb_bytes(streams: dict[str, bytes]) -> bytes:
    """A version-3 OLE2 compound file ([MS-CFB]) holding ``streams`` at its root.

    Streams under 4096 bytes go into the mini stream (64-byte sectors) as Office would put
    them. No library installed here writes compound files with arbitrary streams.
    """
    size = 512
    per = size // 4
    big = {n: d for n, d in streams.items() if len(d) >= 4096}
    small = {n: d for n, d in streams.items() if len(d) < 4096}
    mini_data, mini_starts, mini_fat = b"", {}, []
    for name, data in small.items():
        count = max(1, -(-len(data) // 64))
        mini_starts[name] = len(mini_fat)
        mini_fat += [len(mini_fat) + i + 1 for i in range(count - 1)] + [_END]
        mini_data += data.ljust(count * 64, b"\0")
    names = list(streams)
    dir_sectors = -(-(1 + len(names)) * 128 // size)
    blobs = [("dir", dir_sectors)]
    if mini_fat:
        blobs.append(("minifat", -(-len(mini_fat) * 4 // size)))
        blobs.append(("ministream", -(-len(mini_data) // size)))
    for name, data in big.items():
        blobs.append((name, -(-len(data) // size)))
    used = sum(n for _, n in blobs)
    fat_sectors = 1
    while fat_sectors + used > fat_sectors * per:
        fat_sectors += 1
    fat = [_FATSECT] * fat_sectors
    starts = {}
    for name, count in blobs:
        starts[name] = len(fat)
        fat += [len(fat) + i + 1 for i in range(count - 1)] + [_END]
    fat += [_FREE] * (fat_sectors * per - len(fat))

    def entry(name, kind, child=_FREE, right=_FREE, start=_END, length=0):
        raw = name.encode("utf-16-le") + b"\0\0"
        return (
            raw.ljust(64, b"\0")
            + struct.pack("<HBBIII", len(raw), kind, 1, _FREE, right, child)
            + b"\0" * 36
            + struct.pack("<IQ", start, length)
        )

    entries = [
        entry(
            "Root Entry",
            5,
            child=1 if names else _FREE,
            start=starts.get("ministream", _END),
            length=len(mini_data),
        )
    ]
    for i, name in enumerate(names):
        start = mini_starts[name] if name in small else starts[name]
        right = i + 2 if i + 1 < len(names) else _FREE
        entries.append(entry(name, 2, right=right, start=start, length=len(streams[name])))

    contents = {"dir": b"".join(entries), **big}
    if mini_fat:
        contents["minifat"] = struct.pack(f"<{len(mini_fat)}I", *mini_fat)
        contents["ministream"] = mini_data
    body = b"".join(contents[name].ljust(count * size, b"\0") for name, count in blobs)
    header = (
        bytes.fromhex("D0CF11E0A1B11AE1")
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack(
            "<IIIIIIIII",
            0,
            fat_sectors,
            starts["dir"],
            0,
            4096,
            starts.get("minifat", _END),
            -(-len(mini_fat) * 4 // size) if mini_fat else 0,
            _END,
            0,
        )
        + struct.pack("<109I", *(list(range(fat_sectors)) + [_FREE] * (109 - fat_sectors)))
    )
    return header + struct.pack(f"<{len(fat)}I", *fat) + body


def with_filepass(biff: bytes, encryption_type: int) -> bytes:
    """The BIFF stream with a FILEPASS record after its BOF: 1 = RC4, 0 = XOR obfuscation."""
    bof_end = 4 + struct.unpack_from("<H", biff, 2)[0]
    payload = struct.pack("<H", encryption_type) + (
        b"\1\0\1\0" + b"\x11" * 48 if encryption_type else b"\x12\x34\x56\x78"
    )
    record = struct.pack("<HH", 0x002F, len(payload)) + payload
    return biff[:bof_end] + record + biff[bof_end:]


# -- zip bombs ----------------------------------------------------------------------------------

_BOMB_ROWS = {  # the sheet data's opening and closing tags, and a one-cell row inside
    b"<sheetData>": (b"</sheetData>", b'<row><c t="inlineStr"><is><t>1</t></is></c></row>'),
    b"<table:table ": (
        b"</table:table>",
        b'<table:table-row><table:table-cell office:value-type="float" office:value="1">'
        b"<text:p>1</text:p></table:table-cell></table:table-row>",
    ),
}


def zip_bomb(template: bytes, member: str, expanded: int, declared: int | None = None) -> bytes:
    """``template`` (a .xlsx or .ods) with ``member`` replaced by ``expanded`` bytes of XML
    that compress about 340:1: a sheet of one-cell rows, as a 5 MB file expanding to 2 GiB.

    Compressing 2 GiB would take the test seconds, so the deflate stream is assembled from
    pieces, each ended by a full flush (byte-aligned, no reference to earlier bytes): one
    compressed chunk of rows repeats as often as needed. ``declared`` writes another
    uncompressed size into the zip's headers (a bomb that lies about its size).
    """
    with zipfile.ZipFile(io.BytesIO(template)) as source:
        members = {i.filename: source.read(i) for i in source.infolist()}
    body = members[member]
    head, row, tail = _bomb_parts(body)
    chunk = row * ((1 << 20) // len(row))
    times = max(0, expanded - len(head) - len(tail)) // len(chunk)
    packed = _deflate(head, zlib.Z_FULL_FLUSH) + _deflate(chunk, zlib.Z_FULL_FLUSH) * times
    packed += _deflate(tail, zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    size = len(head) + len(chunk) * times + len(tail)
    entries = []
    for name, data in members.items():
        if name == member:
            entries.append((name, packed, zlib.crc32(tail, crc), declared or size))
        else:
            entries.append((name, _deflate(data, zlib.Z_FINISH), zlib.crc32(data), len(data)))
    return _zip(entries)


@cache
def xlsx_bomb(expanded: int = 2 << 30, declared: int | None = None) -> bytes:
    """A roster .xlsx whose sheet expands to ``expanded`` bytes (2 GiB from about 6 MB)."""
    template = xlsx_bytes({"Sheet2": [["序号", "姓名", "身份证号码"], [1, "王伟", "x"]]})
    return zip_bomb(template, "xl/worksheets/sheet1.xml", expanded, declared)


def _bomb_parts(body: bytes) -> tuple[bytes, bytes, bytes]:
    """The sheet XML up to its rows, a row to repeat, and the XML from the rows' end."""
    for opening, (closing, row) in _BOMB_ROWS.items():
        if opening in body:
            start = body.index(b">", body.index(opening)) + 1
            return body[:start], row, body[body.rindex(closing) :]
    raise ValueError("no sheet data in the member")


def _deflate(data: bytes, mode: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(mode)


def _zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of already deflated members ``(name, deflated, crc32, size)`` ([APPNOTE] 4.3)."""
    out, directory = io.BytesIO(), io.BytesIO()
    for name, packed, crc, size in entries:
        raw = name.encode()
        offset = out.tell()
        fields = (20, 0x800, 8, 0, 0x21, crc, len(packed), size, len(raw))
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + raw + packed)
        directory.write(
            struct.pack("<IH", 0x02014B50, 20)
            + struct.pack("<HHHHHIIIHHHHHII", *fields, 0, 0, 0, 0, 0, offset)
            + raw
        )
    start, listing = out.tell(), directory.getvalue()
    out.write(listing)
    out.write(
        struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(listing), start, 0
        )
    )
    return out.getvalue()
