"""Claim rules: the workflow, review and payment due dates, attachments. No database, no nameko.

The workflow (DESIGN.md "claims"; Zhangjiakou's 退回 with a reason): a draft is submitted; a
reviewer approves it, returns it with a reason (corrected and submitted again) or rejects it.
An approved claim is paid or its payout fails (payments' events); a failed payout is retried,
which makes the claim approved (awaiting payout) again. A paid claim later found excluded is
clawed back (Wujin 六: 已发放的补助，予以追回) by a negative ledger entry, never by editing it.

Due dates come from the plugin's ``Benefit`` (its year file):
- ``review: monthly`` — the month's batch is reviewed by the end of the month the claim was
  received (Wujin 八、(二) 1: 每月对收到的申请…审批);
- ``review: quarterly`` — at the review meeting at the end of the quarter (Wujin 八、(二) 2:
  每季度末组织一次重大疾病鉴定会);
- ``review: on_receipt`` — within ``pay_within_days`` of receipt (Zhangjiakou 第十六条: paid
  within 15 days of a complete application, 20 at most), counted in calendar or working days.
Where a notice counts the payment days from the approval (Wujin: 审核通过后十个工作日内), a
monthly or quarterly claim's payment is due that many days after its approval; an on-receipt
claim's days are counted from receipt, which is never later than the notice allows.
Working days skip Saturdays and Sundays only: public holidays and the weekends worked in
their place (调休) are not modelled, so a due date may fall a day or two early, never late.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

from services.access.identity import same_person
from services.claims import attachment_files
from services.claims.exceptions import AttachmentRefused, WorkflowError
from services.kernel.policy import Benefit

DRAFT, SUBMITTED, RETURNED, APPROVED, REJECTED = (
    "draft",
    "submitted",
    "returned",
    "approved",
    "rejected",
)
PAID, PAYMENT_FAILED, CLAWED_BACK = "paid", "payment_failed", "clawed_back"

_TRANSITIONS = {
    (DRAFT, "submit"): SUBMITTED,
    (RETURNED, "submit"): SUBMITTED,
    (SUBMITTED, "approve"): APPROVED,
    (SUBMITTED, "return"): RETURNED,
    (SUBMITTED, "reject"): REJECTED,
    (APPROVED, "pay"): PAID,
    (APPROVED, "fail"): PAYMENT_FAILED,
    # the bank's success arriving after a failure report is a fact too: it is recorded
    (PAYMENT_FAILED, "pay"): PAID,
    (PAYMENT_FAILED, "retry"): APPROVED,
    (PAID, "claw_back"): CLAWED_BACK,
    # the bank sent the money back (退票): the claim waits for a retry, as after a failure
    (PAID, "return"): PAYMENT_FAILED,
}
STATUS_LABELS = {
    DRAFT: "草稿",
    SUBMITTED: "已提交待审核",
    RETURNED: "已退回",
    APPROVED: "已审核通过待支付",
    REJECTED: "不予补助",
    PAID: "已支付",
    PAYMENT_FAILED: "支付失败",
    CLAWED_BACK: "已追回",
}
_ACTION_LABELS = {
    "submit": "提交",
    "approve": "审核通过",
    "return": "退回",
    "reject": "不予补助",
    "pay": "记为已支付",
    "fail": "记为支付失败",
    "retry": "重新支付",
    "claw_back": "追回",
}
EDITABLE = (DRAFT, RETURNED)
# states whose payable amount is in the member's accumulator (what they were already paid)
COUNTED = (APPROVED, PAID, PAYMENT_FAILED)


def next_status(status: str, action: str) -> str:
    try:
        return _TRANSITIONS[(status, action)]
    except KeyError:
        raise WorkflowError(
            f"{STATUS_LABELS.get(status, status)}的申请不能{_ACTION_LABELS.get(action, action)}"
        ) from None


def require_editable(status: str) -> None:
    if status not in EDITABLE:
        raise WorkflowError(
            f"{STATUS_LABELS.get(status, status)}的申请不能修改；如需修改请联系审核人退回"
        )


def require_reason(reason: str | None, action: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise WorkflowError(f"{_ACTION_LABELS.get(action, action)}必须写明原因")
    return text


# ---- dates -------------------------------------------------------------------------------


def end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def end_of_quarter(day: date) -> date:
    last_month = (day.month - 1) // 3 * 3 + 3
    return end_of_month(date(day.year, last_month, 1))


def add_days(start: date, days: int, kind: str = "calendar") -> date:
    """``days`` calendar days after ``start``, or ``days`` working days (Monday to Friday)."""
    if kind == "calendar":
        return start + timedelta(days=days)
    if kind != "working":
        raise ValueError(f"pay_days_kind {kind!r}: calendar 或 working")
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def review_due(benefit: Benefit, received: date) -> date | None:
    """When the reviewer must have decided a claim received on ``received``."""
    if benefit.review == "monthly":
        return end_of_month(received)
    if benefit.review == "quarterly":
        return end_of_quarter(received)
    if benefit.pay_within_days is None:
        return None
    return add_days(received, benefit.pay_within_days, benefit.pay_days_kind)


def review_limit(benefit: Benefit, received: date) -> date | None:
    """The notice's outer limit for a claim decided on receipt, beyond its due date
    (Zhangjiakou: paid within 15 days, at most 20); None where the notice sets none, or where
    the count starts only at approval (a batch's meeting)."""
    if benefit.review != "on_receipt" or benefit.pay_within_days_max is None:
        return None
    return add_days(received, benefit.pay_within_days_max, benefit.pay_days_kind)


def review_batch(benefit: Benefit, received: date) -> str | None:
    """The batch a claim is reviewed in: the month's (2024-06) or the quarter's meeting (2024-Q2)."""
    if benefit.review == "monthly":
        return f"{received:%Y-%m}"
    if benefit.review == "quarterly":
        return f"{received.year}-Q{(received.month - 1) // 3 + 1}"
    return None


def pay_due(benefit: Benefit, received: date, approved: date) -> tuple[date | None, date | None]:
    """(due, outer limit) of the payment of a claim received and approved on these days."""
    if benefit.pay_within_days is None:
        return None, None
    start = received if benefit.review == "on_receipt" else approved
    due = add_days(start, benefit.pay_within_days, benefit.pay_days_kind)
    limit = (
        add_days(start, benefit.pay_within_days_max, benefit.pay_days_kind)
        if benefit.pay_within_days_max is not None
        else due
    )
    return due, limit


# ---- attachments -------------------------------------------------------------------------

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_LIMIT_WORDS = "10 MB"
# What a file is comes from its first bytes, never from its name or the browser's type: a
# phone's photo saved as .pdf is still a JPEG, and a .docx renamed .pdf is still refused.
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
CONTENT_TYPES = tuple(kind for _, kind in _MAGIC)
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
_OTHER_KINDS = (
    (b"GIF8", "GIF 图片"),
    (b"BM", "BMP 图片"),
    (b"II*\x00", "TIFF 图片"),
    (b"MM\x00*", "TIFF 图片"),
    (b"PK\x03\x04", "Office 文档或压缩包"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Office 97-2003 文档"),
    (b"Rar!", "RAR 压缩包"),
    (b"MZ", "可执行程序"),
)
_ALLOWED_WORDS = "JPG、PNG 图片或 PDF 文件"
_RESAVE = "请用手机或扫描软件重新导出为 JPG、PNG 或 PDF 后上传"


def attachment_type(data: bytes, filename: str) -> str:
    """The content type of an upload, by its magic bytes, once the whole file has parsed as
    that type (attachment_files); AttachmentRefused if it is empty, larger than the limit,
    not a JPEG, PNG or PDF, or not entirely one."""
    if not data:
        raise AttachmentRefused(f"{filename}：文件是空的（0 字节）")
    if len(data) > MAX_ATTACHMENT_BYTES:
        over = len(data) - MAX_ATTACHMENT_BYTES
        raise AttachmentRefused(
            f"{filename}：文件 {len(data):,} 字节，比 {_LIMIT_WORDS}（{MAX_ATTACHMENT_BYTES:,} "
            f"字节）的上限多 {over:,} 字节；请压缩图片或分页扫描后上传"
        )
    kind = _sniffed(data, filename)
    problem = attachment_files.problem(data, kind)
    if problem is not None:
        raise AttachmentRefused(f"{filename}：{problem}；{_RESAVE}")
    return kind


def _sniffed(data: bytes, filename: str) -> str:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    # PDF readers accept the header anywhere in the first 1024 bytes (ISO 32000-1, annex H.3)
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    # WEBP and HEIC (phones' own formats) start with a box whose type sits after 4 bytes
    if data[8:12] == b"WEBP" or data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        found = "WEBP/HEIC 手机图片"
    else:
        found = next(
            (label for magic, label in _OTHER_KINDS if data.startswith(magic)), "无法识别的文件"
        )
    raise AttachmentRefused(f"{filename}：这是{found}，请上传 {_ALLOWED_WORDS}")


def stored_name(filename: str, content_type: str) -> str:
    """The name an attachment is kept and served under: no folders, no control characters,
    at most 100 characters, the extension of what the file is (``evil.exe`` holding a PNG is
    kept as ``evil.png``)."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", filename))[-1]
    base = "".join(
        "_" if c in _RESERVED else c
        for c in base
        if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = stem.strip(" ._")[:_STEM_LENGTH].strip(" ._") or "附件"
    return stem + EXTENSIONS[content_type]


_RESERVED = set('<>:"|?*')  # not allowed in a Windows file name, where reviewers save them
_STEM_LENGTH = 100


def missing_documents(
    required: Sequence[str], present: Iterable[str], not_applicable: Mapping[str, str]
) -> list[str]:
    """The documents the benefit lists that the claim neither carries nor marks not applicable."""
    have = set(present)
    return [doc for doc in required if doc not in have and doc not in not_applicable]


def require_four_eyes(submitter: str | None, reviewer: str) -> None:
    """Nobody approves what they submitted (issue 9), compared by the token's subject."""
    if submitter is not None and same_person(submitter, reviewer):
        raise WorkflowError("不能审核自己提交的申请，请由另一位审核人员办理")
