"""A claim's attachments are what they claim to be, kept under a safe name, and one file may
serve several of the documents a benefit asks for."""

from __future__ import annotations

import io
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import select

from services.claims import attachments, rules
from services.claims import claims as ops
from services.claims.exceptions import AttachmentRefused, SubmissionRefused, WorkflowError
from services.claims.models import Attachment
from tests.claims.flow import JPEG, PDF, PNG, image, new_claim, pdf, record
from tests.enrollment.samples import person

ZJK_DAY = date(2024, 6, 3)
MEMBER = person(1)
CRITICAL = {
    "benefit": "critical_illness",
    "total_cost": "120000",
    "disease": "恶性肿瘤",
    "admission_date": "2024-03-01",
}
# an executable's first bytes, as Windows programs start ("MZ", then the DOS stub)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def refusal(data: bytes, filename: str = "材料.png") -> str:
    with pytest.raises(AttachmentRefused) as refused:
        rules.attachment_type(data, filename)
    message = str(refused.value)
    assert message.startswith(f"{filename}：") and "\n" not in message
    return message


# -- the whole file is the type its first bytes announce --------------------------------------


def test_real_images_and_pdfs_are_accepted():
    assert rules.attachment_type(PNG, "a") == "image/png"
    assert rules.attachment_type(JPEG, "a") == "image/jpeg"
    assert rules.attachment_type(PDF, "a") == "application/pdf"
    assert rules.attachment_type(image("PNG", side=1200), "a") == "image/png"


def test_a_png_signature_in_front_of_an_executable_is_refused():
    assert "不是完整的图片" in refusal(PNG[:8] + EXE)
    assert "不是完整的图片" in refusal(PNG[:33] + EXE)  # with a real IHDR chunk too


def test_anything_after_the_image_s_end_is_refused():
    assert "PNG 图片结束后还有 216 字节的其他数据" in refusal(PNG + EXE)
    assert "JPG 图片结束后还有 216 字节的其他数据" in refusal(JPEG + EXE, "照片.jpg")
    assert "JPG 图片结束后还有 1 字节" in refusal(JPEG + b"\x00", "照片.jpg")


def test_a_truncated_image_is_refused():
    big = image("PNG", side=400)
    assert "不是完整的图片" in refusal(big[: len(big) - 30])
    photo = image("JPEG", side=400)
    assert "JPG" in refusal(photo[: len(photo) // 2], "照片.jpg")


def test_a_phone_s_multi_picture_jpeg_is_one_image_with_its_pictures():
    out = io.BytesIO()
    first, second = Image.new("RGB", (32, 32), "red"), Image.new("RGB", (16, 16), "blue")
    first.save(out, "MPO", save_all=True, append_images=[second])
    assert rules.attachment_type(out.getvalue(), "IMG_0001.jpg") == "image/jpeg"
    assert "结束后还有" in refusal(out.getvalue() + EXE, "IMG_0001.jpg")


def test_an_image_too_large_to_be_a_photo_is_refused():
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")  # 100 million pixels in 12 kB
    assert "像素多得不像" in refusal(out.getvalue())


def test_a_pdf_must_parse_as_a_pdf_to_its_end():
    assert "结构不完整或已损坏" in refusal(b"%PDF-1.7\n" + EXE, "a.pdf")
    assert "结构不完整或已损坏" in refusal(PDF[: len(PDF) // 2], "a.pdf")
    assert "%%EOF）之后还有其他数据" in refusal(PDF + EXE, "a.pdf")
    assert rules.attachment_type(PDF + b"\r\n", "a.pdf") == "application/pdf"  # a line end


def test_a_pdf_with_a_password_is_refused():
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(PDF)))
    writer.encrypt("123456")
    out = io.BytesIO()
    writer.write(out)
    assert "PDF 设置了密码" in refusal(out.getvalue(), "a.pdf")


# -- names and sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kind", "kept"),
    [
        ("evil.exe", "image/png", "evil.png"),
        ("出院小结.PDF", "application/pdf", "出院小结.pdf"),
        ("扫描件.jpg", "application/pdf", "扫描件.pdf"),  # what it is, not what it was called
        ("../../etc/passwd", "image/png", "passwd.png"),
        ("C:\\Users\\王芳\\Desktop\\费用清单.jpeg", "image/jpeg", "费用清单.jpg"),
        ("a\x00b\x1b[31m\u202egnp.exe", "image/png", "ab[31mgnp.png"),
        ('报销<1>:"?*|.pdf', "application/pdf", "报销_1.pdf"),
        ("", "image/png", "附件.png"),
        (".hidden", "image/png", "附件.png"),
        ("x" * 5000 + ".pdf", "application/pdf", "x" * 100 + ".pdf"),
    ],
)
def test_the_stored_name_is_safe(given, kind, kept):
    assert rules.stored_name(given, kind) == kept


def test_a_file_of_10_mb_and_1_byte_is_refused_naming_both_sizes(session, zhangjiakou, cover):
    claim = draft(session, zhangjiakou, cover)
    with pytest.raises(AttachmentRefused) as refused:
        attachments.add_attachment(
            session,
            zhangjiakou,
            claim_id=claim.id,
            documents="诊断证明",
            filename="诊断证明.pdf",
            data=pdf("x", size=10 * 1024 * 1024 + 1),
            actor="clerk",
        )
    assert str(refused.value) == (
        "诊断证明.pdf：文件 10,485,761 字节，比 10 MB（10,485,760 字节）的上限多 1 字节；"
        "请压缩图片或分页扫描后上传"
    )
    assert session.scalars(select(Attachment)).all() == []


def test_a_png_named_evil_exe_is_kept_as_evil_png(session, zhangjiakou, cover):
    claim = draft(session, zhangjiakou, cover)
    kept = attachments.add_attachment(
        session,
        zhangjiakou,
        claim_id=claim.id,
        documents="其他材料",
        filename="evil.exe",
        data=PNG,
        actor="clerk",
    )
    assert (kept.filename, kept.content_type) == ("evil.png", "image/png")
    listed = attachments.list_attachments(session, claim_id=claim.id)
    assert [(a["filename"], a["documents"]) for a in listed] == [("evil.png", ["其他材料"])]


# -- one file, several documents ------------------------------------------------------------------


def draft(session, policy, cover):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    return new_claim(
        session,
        policy,
        cover,
        MEMBER,
        CRITICAL,
        year=2024,
        today=ZJK_DAY,
        submit=False,
        documents=False,
    )


def submit(session, policy, cover, claim):
    return ops.submit(
        session,
        policy,
        claim_id=claim.id,
        actor="clerk",
        today=ZJK_DAY,
        cover=cover,
        record=record(session),
    )


def test_one_pdf_holding_two_documents_counts_for_both_at_submit(session, zhangjiakou, cover):
    claim = draft(session, zhangjiakou, cover)
    required = list(ops.benefit_of(zhangjiakou, 2024, claim.benefit).attachments)
    both, rest = required[:2], required[2:]
    combined = attachments.add_attachment(
        session,
        zhangjiakou,
        claim_id=claim.id,
        documents=both,
        filename="合并扫描.pdf",
        data=pdf("both"),
        actor="clerk",
    )
    for i, document in enumerate(rest):
        attachments.add_attachment(
            session,
            zhangjiakou,
            claim_id=claim.id,
            documents=document,
            filename=f"{i}.pdf",
            data=pdf(str(i)),
            actor="clerk",
        )
    assert set(combined.document_names) == set(both)

    assert submit(session, zhangjiakou, cover, claim).status == "submitted"


def test_the_same_file_uploaded_again_for_another_document_serves_both(session, zhangjiakou, cover):
    claim = draft(session, zhangjiakou, cover)
    required = list(ops.benefit_of(zhangjiakou, 2024, claim.benefit).attachments)
    first = attachments.add_attachment(
        session,
        zhangjiakou,
        claim_id=claim.id,
        documents=required[0],
        filename="a.pdf",
        data=pdf("one"),
        actor="clerk",
    )
    again = attachments.add_attachment(
        session,
        zhangjiakou,
        claim_id=claim.id,
        documents=required[1],
        filename="b.pdf",
        data=pdf("one"),
        actor="clerk",
    )
    assert again.id == first.id and again.filename == "a.pdf"
    assert set(again.document_names) == set(required[:2])
    assert len(session.scalars(select(Attachment)).all()) == 1

    # removing that one file leaves both documents missing
    attachments.remove_attachment(session, attachment_id=first.id, actor="clerk")
    with pytest.raises(SubmissionRefused) as refused:
        submit(session, zhangjiakou, cover, claim)
    assert required[0] in str(refused.value) and required[1] in str(refused.value)


@pytest.mark.parametrize("documents", [[], "", ["诊断证明", 3], None])
def test_the_documents_named_must_be_names(session, zhangjiakou, cover, documents):
    claim = draft(session, zhangjiakou, cover)
    with pytest.raises(WorkflowError, match="document 应为材料名称"):
        attachments.add_attachment(
            session,
            zhangjiakou,
            claim_id=claim.id,
            documents=documents,
            filename="a.pdf",
            data=PDF,
            actor="clerk",
        )
