"""The pure claim rules: workflow, due dates from the plugins' benefits, attachment limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.claims import rules
from services.claims.exceptions import AttachmentRefused, WorkflowError
from tests.claims.flow import JPEG, PDF, PNG, pdf


def benefit(policy, year, code):
    return next(b for b in policy.benefits(year) if b.code == code)


@pytest.mark.parametrize(
    "status, action, to",
    [
        ("draft", "submit", "submitted"),
        ("returned", "submit", "submitted"),
        ("submitted", "approve", "approved"),
        ("submitted", "return", "returned"),
        ("submitted", "reject", "rejected"),
        ("approved", "pay", "paid"),
        ("approved", "fail", "payment_failed"),
        ("payment_failed", "retry", "approved"),
        ("paid", "claw_back", "clawed_back"),
    ],
)
def test_the_workflow_allows(status, action, to):
    assert rules.next_status(status, action) == to


@pytest.mark.parametrize(
    "status, action, words",
    [
        ("draft", "approve", "草稿的申请不能审核通过"),
        ("rejected", "submit", "不予补助的申请不能提交"),
        ("approved", "claw_back", "已审核通过待支付的申请不能追回"),
        ("paid", "retry", "已支付的申请不能重新支付"),
        ("clawed_back", "claw_back", "已追回的申请不能追回"),
    ],
)
def test_the_workflow_refuses_in_words(status, action, words):
    with pytest.raises(WorkflowError, match=words):
        rules.next_status(status, action)


def test_working_days_skip_weekends_and_calendar_days_do_not():
    friday = date(2024, 6, 21)
    assert rules.add_days(friday, 1, "working") == date(2024, 6, 24)  # Monday
    assert rules.add_days(friday, 10, "working") == date(2024, 7, 5)
    assert rules.add_days(date(2024, 6, 22), 1, "working") == date(2024, 6, 24)  # from a Saturday
    assert rules.add_days(friday, 15) == date(2024, 7, 6)
    with pytest.raises(ValueError):
        rules.add_days(friday, 1, "banking")


def test_review_cadence_comes_from_the_plugin(wujin, zhangjiakou):
    received = date(2024, 5, 20)  # a Monday in the second quarter
    inpatient = benefit(wujin, 2024, "inpatient")
    assert (
        inpatient.review,
        rules.review_due(inpatient, received),
        rules.review_batch(inpatient, received),
    ) == ("monthly", date(2024, 5, 31), "2024-05")
    critical = benefit(wujin, 2024, "carcinoma_in_situ")
    assert (rules.review_due(critical, received), rules.review_batch(critical, received)) == (
        date(2024, 6, 30),
        "2024-Q2",
    )
    assert rules.review_due(critical, date(2024, 12, 1)) == date(2024, 12, 31)
    injury = benefit(wujin, 2024, "work_injury")
    assert (rules.review_due(injury, received), rules.review_batch(injury, received)) == (
        date(2024, 6, 3),
        None,
    )
    general = benefit(zhangjiakou, 2024, "general_illness")
    assert rules.review_due(general, received) == date(2024, 6, 4)  # 15 calendar days
    assert rules.review_due(replace(general, pay_within_days=None), received) is None


def test_payment_is_due_from_receipt_or_from_approval(wujin, zhangjiakou):
    general = benefit(zhangjiakou, 2024, "general_illness")
    assert rules.pay_due(general, date(2024, 5, 20), date(2024, 5, 30)) == (
        date(2024, 6, 4),
        date(2024, 6, 9),
    )
    inpatient = benefit(wujin, 2024, "inpatient")  # monthly: 10 working days after the approval
    assert rules.pay_due(inpatient, date(2024, 5, 2), date(2024, 5, 31)) == (
        date(2024, 6, 14),
        date(2024, 6, 14),
    )


def test_attachments_are_known_by_their_first_bytes_not_their_name():
    assert rules.attachment_type(PDF, "扫描件.jpg") == "application/pdf"
    assert rules.attachment_type(PNG, "a.pdf") == "image/png"
    assert rules.attachment_type(JPEG, "a") == "image/jpeg"
    for data, words in [
        (b"", "空的"),
        (b"GIF89a" + b"\x00" * 10, "GIF 图片"),
        (b"PK\x03\x04" + b"\x00" * 10, "Office 文档或压缩包"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 10, "WEBP/HEIC 手机图片"),
        (b"MZ\x90\x00", "可执行程序"),
        (b"hello", "无法识别的文件"),
    ]:
        with pytest.raises(AttachmentRefused, match=words):
            rules.attachment_type(data, "a.pdf")


def test_attachments_are_at_most_10_mb_and_the_refusal_says_exactly_how_much():
    limit = 10 * 1024 * 1024
    assert rules.MAX_ATTACHMENT_BYTES == limit
    assert rules.attachment_type(pdf("x", size=limit), "big.pdf") == "application/pdf"
    with pytest.raises(AttachmentRefused) as refused:
        rules.attachment_type(pdf("x", size=limit + 1), "big.pdf")
    assert str(refused.value) == (
        "big.pdf：文件 10,485,761 字节，比 10 MB（10,485,760 字节）的上限多 1 字节；"
        "请压缩图片或分页扫描后上传"
    )


def test_missing_documents_are_those_neither_attached_nor_marked():
    listed = ("申请表", "诊断证明", "工会会员卡")
    assert rules.missing_documents(listed, ["申请表"], {"工会会员卡": "已在系统登记"}) == [
        "诊断证明"
    ]
    assert rules.missing_documents(listed, listed, {}) == []


def test_a_pdf_whose_header_follows_a_little_junk_is_still_a_pdf():
    junk = b"\r\n\xef\xbb\xbf"
    assert rules.attachment_type(pdf(before=junk), "scan.pdf") == "application/pdf"
    with pytest.raises(AttachmentRefused):
        rules.attachment_type(pdf(before=b"x" * 1024), "scan.pdf")
