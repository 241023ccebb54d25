"""Whether an upload is entirely the image or PDF its first bytes announce.

Magic bytes alone let a PNG signature in front of an executable through as "image/png", and
an image with a program appended after its end opens fine in every viewer. So the whole file
is parsed as its type by the libraries that read these formats: Pillow decodes every pixel
of a JPEG or PNG (and an image of more than MAX_PIXELS is refused before it is decoded), pypdf reads a PDF's
cross-reference table, trailer and page tree in strict mode. Where an image ends Pillow
does not say, so that is read from the format's own framing: a PNG's chunks up to IEND
([PNG] 5.3), a JPEG's segments and scans up to EOI ([T.81] B.2) — nothing may follow. A
PDF must end with its ``%%EOF`` marker (ISO 32000-1 7.5.5; only line ends after it).

Decoding is CPU work: the claims service calls this off eventlet's hub (messaging.offload).
"""

from __future__ import annotations

import io
import warnings

_WHITESPACE = b"\r\n\t\x0c \x00"
# an A4 page scanned at 600 dpi is 35 million pixels, a phone's photo 12 to 50 million; a
# decompression bomb is hundreds of millions (decoding takes 3-4 bytes a pixel)
MAX_PIXELS = 64_000_000


def problem(data: bytes, content_type: str) -> str | None:
    """Why ``data`` is not entirely a ``content_type`` file, in a clerk's words; None if it is."""
    if content_type == "application/pdf":
        return _pdf_problem(data)
    return _image_problem(data, content_type)


def _image_problem(data: bytes, content_type: str) -> str | None:
    from PIL import Image, UnidentifiedImageError

    label = "PNG 图片" if content_type == "image/png" else "JPG 图片"
    expected = ("PNG",) if content_type == "image/png" else ("JPEG", "MPO")
    too_many = f"文件开头是{label}，但像素多得不像一张照片或扫描件"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=expected) as image:
                frames = getattr(image, "n_frames", 1)
                for frame in range(frames):
                    image.seek(frame)
                    if image.width * image.height > MAX_PIXELS:
                        return too_many
                    if frames == 1:
                        # a JPEG is decoded whole at an eighth of its size: every scan is
                        # read and checked, in a sixty-fourth of the memory (Pillow's draft
                        # mode does not carry over from one picture of an MPO to the next)
                        image.draft(image.mode, (image.width // 8, image.height // 8))
                    image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return too_many
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return f"文件开头是{label}，但内容不是完整的图片（已损坏，或是改了扩展名的其他文件）"
    try:
        end = _png_end(data) if content_type == "image/png" else _jpegs_end(data, frames)
    except ValueError:
        return f"文件开头是{label}，但图片的结构不完整"
    if end != len(data):
        return (
            f"{label}结束后还有 {len(data) - end:,} 字节的其他数据（可能夹带了别的文件），"
            "系统不接收"
        )
    return None


def _png_end(data: bytes) -> int:
    """Where a PNG's IEND chunk ends: length, type, data and CRC, chunk after chunk."""
    at = 8
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        at += 12 + length
        if kind == b"IEND":
            return at
    raise ValueError("no IEND chunk")


def _jpegs_end(data: bytes, images: int) -> int:
    """Where the last of ``images`` JPEGs laid end to end ends (an MPO file, as phones write
    for depth maps and gain maps, holds several)."""
    at = 0
    for _ in range(images):
        if data[at : at + 2] != b"\xff\xd8":
            raise ValueError("no SOI where an image should start")
        at = _jpeg_end(data, at + 2)
    return at


def _jpeg_end(data: bytes, at: int) -> int:
    """Past the EOI marker of the JPEG whose segments start at ``at``."""
    while at + 2 <= len(data):
        if data[at] != 0xFF:
            raise ValueError("a marker expected")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0xD9:  # EOI
            return at + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next real marker
            while True:
                at = data.index(b"\xff", at)
                following = data[at + 1 : at + 2]
                if following == b"\x00" or b"\xd0" <= following <= b"\xd7":
                    at += 2  # a stuffed 0xFF, or a restart marker inside the scan
                    continue
                break
    raise ValueError("no EOI marker")


def _pdf_problem(data: bytes) -> str | None:
    import pypdf
    from pypdf.errors import PyPdfError

    try:
        # junk before the header (allowed in the first 1024 bytes): offsets count from it.
        # pypdf asks a BytesIO for its buffer, which copies the bytes: a buffered reader
        # over it reads the one copy there is.
        start = data.find(b"%PDF-", 0, 1024)
        stream = io.BufferedReader(io.BytesIO(data[start:] if start else data))
        reader = pypdf.PdfReader(stream, strict=True)
        if reader.is_encrypted:
            return "PDF 设置了密码，审核人员无法打开"
        if len(reader.pages) == 0:
            return "PDF 中没有任何页面"
        for page in reader.pages:
            page.get_contents()
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return "文件开头是 PDF，但结构不完整或已损坏（不是完整的 PDF 文件）"
    if not data.rstrip(_WHITESPACE).endswith(b"%%EOF"):
        return "PDF 文件结束标记（%%EOF）之后还有其他数据（可能夹带了别的文件），系统不接收"
    return None
