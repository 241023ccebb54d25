"""Intake and review on a real database (SQLite, and PostgreSQL when marked).

The done-when of issue 5 at the operations level: a Zhangjiakou member's three critical-illness
claims of 120 000 are paid 12 000, 12 000 and 6 000 through approvals; a claim whose date lies
outside cover is refused with the reason; Wujin's second stay tops up to the new band. Also:
the deadline, a benefit the city does not have, documents, return with a reason and
resubmission, every change recorded with who, when and why, and the events in the outbox.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.claims import accumulators, attachments, queues
from services.claims import claims as ops
from services.claims.exceptions import NotFound, SubmissionRefused, WorkflowError
from services.claims.models import Attachment, LedgerEntry, Review
from services.kernel.errors import FactError
from tests.claims.flow import JPEG, PNG, approve, attach_all, events, new_claim, pdf, record
from tests.enrollment.samples import bad_check_digit, person

ZJK_DAY = date(2024, 6, 3)  # a Monday inside Zhangjiakou's 2024 cover
WUJIN_DAY = date(2024, 6, 10)
MEMBER = person(1)


def critical(cost: str = "120000", admitted: str = "2024-03-01") -> dict:
    return {
        "benefit": "critical_illness",
        "total_cost": cost,
        "disease": "恶性肿瘤",
        "admission_date": admitted,
    }


def inpatient(self_borne: str, admitted: str = "2024-04-01") -> dict:
    return {"benefit": "inpatient", "self_borne": self_borne, "admission_date": admitted}


# Wujin: a stay settled with the medical-insurance card needs neither document (八、(一) 1)
SETTLED = {
    "出入院记录（未使用常州医保结算的住院）": "已使用常州医保结算",
    "本次住院的结算票据（未使用常州医保结算的住院）": "已使用常州医保结算",
}


def test_three_critical_illness_claims_of_120000_are_paid_12000_12000_6000(
    session, zhangjiakou, cover
):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    claims = [
        new_claim(session, zhangjiakou, cover, MEMBER, critical(), year=2024, today=ZJK_DAY)
        for _ in range(3)
    ]
    assert [c.payable for c in claims] == [
        Decimal("12000.00")
    ] * 3  # each alone, before any approval

    decided = [approve(session, zhangjiakou, c, ZJK_DAY) for c in claims]

    assert [(c.status, c.payable) for c in decided] == [
        ("approved", Decimal("12000.00")),
        ("approved", Decimal("12000.00")),
        ("approved", Decimal("6000.00")),
    ]
    assert any("尚余 6000.00" in line for line in decided[2].assessment["explain"])
    totals = accumulators.member_totals(
        session, city="zhangjiakou", year=2024, id_number=MEMBER.id_number
    )
    assert totals == {
        "critical_illness": {"payable": "30000.00", "counted": "360000.00", "claims": 3}
    }
    ledger = session.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "payable")).all()
    assert sorted(ledger) == [Decimal("6000.00"), Decimal("12000.00"), Decimal("12000.00")]

    fourth = new_claim(session, zhangjiakou, cover, MEMBER, critical(), year=2024, today=ZJK_DAY)
    assert fourth.assessment["refused"] and "累计上限" in fourth.assessment["reasons"][0]
    assert approve(session, zhangjiakou, fourth, ZJK_DAY).status == "rejected"
    assert [e for e, _ in events(session)][-2:] == ["claim_submitted", "claim_rejected"]


def test_a_claim_dated_outside_cover_is_refused_with_the_reason(session, zhangjiakou, cover):
    cover.enrol(
        "zhangjiakou", 2024, MEMBER, start=date(2024, 1, 1), end=date(2024, 5, 31)
    )  # left in May
    claim = new_claim(
        session,
        zhangjiakou,
        cover,
        MEMBER,
        critical(admitted="2024-07-02"),
        year=2024,
        today=ZJK_DAY,
        submit=False,
    )
    with pytest.raises(SubmissionRefused) as refused:
        ops.submit(
            session,
            zhangjiakou,
            claim_id=claim.id,
            actor="clerk",
            today=ZJK_DAY,
            cover=cover,
            record=record(session),
        )

    (problem,) = refused.value.problems
    assert (
        "入院日期 2024-07-02" in problem and "不在张家口市职工医疗互助保障的保障范围内" in problem
    )
    assert cover.calls[-1] == (
        "zhangjiakou",
        MEMBER.id_number,
        date(2024, 7, 2),
    )  # the date that counts
    assert claim.status == "draft" and events(session) == []


def test_cover_is_asked_for_the_benefits_own_date(session, wujin, cover):
    """Wujin's work injury counts by the event date, its critical illnesses by the diagnosis."""
    cover.enrol("wujin", 2024, MEMBER)
    facts = {
        "benefit": "work_injury",
        "grade": 9,
        "event_date": "2024-02-03",
        "admission_date": "2023-12-30",
    }
    new_claim(
        session,
        wujin,
        cover,
        MEMBER,
        facts,
        year=2024,
        today=WUJIN_DAY,
        not_applicable={"法定受益人共同签订的身故补助金领取声明书（工亡）": "伤残，非工亡"},
    )
    assert cover.calls == [("wujin", MEMBER.id_number, date(2024, 2, 3))]


def test_a_claim_received_after_the_deadline_is_refused(session, zhangjiakou, cover):
    """Zhangjiakou 第十六条: claims count by admission date and are accepted until 31 Dec of the next year."""
    cover.enrol("zhangjiakou", 2024, MEMBER)
    late = new_claim(
        session, zhangjiakou, cover, MEMBER, critical(), year=2024, today=ZJK_DAY, submit=False
    )
    with pytest.raises(SubmissionRefused, match="受理截止于 2025-12-31，2026-01-01 提交已逾期"):
        ops.submit(
            session,
            zhangjiakou,
            claim_id=late.id,
            actor="clerk",
            today=date(2026, 1, 1),
            cover=cover,
            record=record(session),
        )
    ops.submit(
        session,
        zhangjiakou,
        claim_id=late.id,
        actor="clerk",
        today=date(2025, 12, 31),
        cover=cover,
        record=record(session),
    )
    assert late.status == "submitted" and late.received_on == date(2025, 12, 31)


def test_a_benefit_the_city_does_not_have_is_refused_naming_those_it_has(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    claim = ops.create_claim(
        session,
        wujin,
        year=2024,
        id_number=MEMBER.id_number,
        actor="clerk",
        facts={"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-03-01"},
    )
    with pytest.raises(SubmissionRefused) as refused:
        ops.submit(
            session,
            wujin,
            claim_id=claim.id,
            actor="clerk",
            today=WUJIN_DAY,
            cover=cover,
            record=record(session),
        )
    assert "没有待遇 'general_illness'" in str(refused.value) and "inpatient" in str(refused.value)


def test_facts_are_checked_when_the_draft_is_made(session, zhangjiakou):
    with pytest.raises(FactError, match="total_cots"):
        ops.create_claim(
            session,
            zhangjiakou,
            year=2024,
            id_number=MEMBER.id_number,
            actor="clerk",
            facts={"benefit": "general_illness", "total_cots": "9000"},
        )
    with pytest.raises(FactError, match="校验码"):
        ops.create_claim(
            session,
            zhangjiakou,
            year=2024,
            id_number=bad_check_digit(MEMBER.id_number),
            actor="clerk",
            facts=critical(),
        )


def test_documents_the_benefit_lists_are_required_or_marked_not_applicable(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    claim = new_claim(
        session,
        wujin,
        cover,
        MEMBER,
        inpatient("6000"),
        year=2024,
        today=WUJIN_DAY,
        submit=False,
        documents=False,
    )
    with pytest.raises(
        SubmissionRefused,
        match="缺少材料: 出入院记录（未使用常州医保结算的住院）、本次住院的结算票据",
    ):
        ops.submit(
            session,
            wujin,
            claim_id=claim.id,
            actor="clerk",
            today=WUJIN_DAY,
            cover=cover,
            record=record(session),
        )
    with pytest.raises(SubmissionRefused, match="须写明原因"):
        ops.submit(
            session,
            wujin,
            claim_id=claim.id,
            actor="clerk",
            today=WUJIN_DAY,
            cover=cover,
            record=record(session),
            not_applicable=dict.fromkeys(SETTLED, " "),
        )
    ops.submit(
        session,
        wujin,
        claim_id=claim.id,
        actor="clerk",
        today=WUJIN_DAY,
        cover=cover,
        record=record(session),
        not_applicable=SETTLED,
    )
    assert claim.status == "submitted" and claim.not_applicable == SETTLED


def test_attachments_are_sniffed_checksummed_and_frozen_after_submission(
    session, zhangjiakou, cover
):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    claim = new_claim(
        session,
        zhangjiakou,
        cover,
        MEMBER,
        critical(),
        year=2024,
        today=ZJK_DAY,
        submit=False,
        documents=False,
    )
    photo = attachments.add_attachment(
        session,
        zhangjiakou,
        claim_id=claim.id,
        documents="病案首页",
        filename="病案首页.pdf",
        data=JPEG,
        actor="clerk",
    )  # a photo named .pdf
    assert (photo.content_type, photo.size, photo.content) == ("image/jpeg", len(JPEG), JPEG)
    assert photo.sha256 == hashlib.sha256(JPEG).hexdigest()
    again = attachments.add_attachment(
        session,
        zhangjiakou,
        claim_id=claim.id,
        documents="病案首页",
        filename="copy.jpg",
        data=JPEG,
        actor="clerk",
    )
    assert again.id == photo.id  # the same upload twice is one attachment
    both = attachments.add_attachment(
        session,
        zhangjiakou,
        claim_id=claim.id,
        documents="诊断证明",
        filename="x.jpg",
        data=JPEG,
        actor="clerk",
    )  # the same file for another document: one attachment serving both
    assert both.id == photo.id and both.document_names == ["病案首页", "诊断证明"]
    with pytest.raises(WorkflowError, match="不是这项补助的材料"):
        attachments.add_attachment(
            session,
            zhangjiakou,
            claim_id=claim.id,
            documents="火灾事故认定书",
            filename="x.png",
            data=PNG,
            actor="clerk",
        )
    stored = {}
    kept = attachments.add_attachment(
        session,
        zhangjiakou,
        claim_id=claim.id,
        documents="其他材料",
        filename="scan.png",
        data=PNG,
        actor="clerk",
        store=lambda data, digest, kind: stored.setdefault(digest, f"s3://claims/{digest}"),
    )
    assert (
        kept.content is None
        and kept.storage_key == f"s3://claims/{kept.sha256}"
        and kept.content_type == "image/png"
    )

    attach_all(session, zhangjiakou, claim, skip=("病案首页",))
    ops.submit(
        session,
        zhangjiakou,
        claim_id=claim.id,
        actor="clerk",
        today=ZJK_DAY,
        cover=cover,
        record=record(session),
    )
    with pytest.raises(WorkflowError, match="不能修改"):
        attachments.add_attachment(
            session,
            zhangjiakou,
            claim_id=claim.id,
            documents="其他材料",
            filename="late.pdf",
            data=pdf("late"),
            actor="clerk",
        )
    assert (
        len(session.scalars(select(Attachment).where(Attachment.claim_id == claim.id)).all()) == 7
    )  # six listed, one other


def test_return_with_reason_resubmit_approve_and_every_step_recorded(session, zhangjiakou, cover):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    facts = {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-03-01"}
    claim = new_claim(session, zhangjiakou, cover, MEMBER, facts, year=2024, today=ZJK_DAY)
    assert (claim.unit_name, claim.member_id, claim.counts_on) == (
        "测试单位工会",
        f"member-{MEMBER.id_number[-6:]}",
        date(2024, 3, 1),
    )
    rec = record(session)
    with pytest.raises(WorkflowError, match="退回必须写明原因"):
        ops.return_claim(session, claim_id=claim.id, actor="reviewer:li", reason=" ", record=rec)
    ops.return_claim(
        session,
        claim_id=claim.id,
        actor="reviewer:li",
        reason="结算单不清晰，请重新扫描",
        record=rec,
    )
    assert (claim.status, claim.returned_reason) == ("returned", "结算单不清晰，请重新扫描")
    with pytest.raises(WorkflowError, match="已退回的申请不能审核通过"):
        approve(session, zhangjiakou, claim, ZJK_DAY)
    ops.update_claim(
        session, claim_id=claim.id, actor="clerk:wang", facts={**facts, "total_cost": "9400"}
    )
    ops.submit(
        session,
        zhangjiakou,
        claim_id=claim.id,
        actor="clerk:wang",
        today=date(2024, 6, 20),
        cover=cover,
        record=rec,
    )
    assert (
        claim.received_on == ZJK_DAY and claim.returned_reason is None
    )  # the first receipt counts
    approve(session, zhangjiakou, claim, date(2024, 6, 12))

    assert (claim.status, claim.payable, claim.counted) == (
        "approved",
        Decimal("470.00"),
        Decimal("9400.00"),
    )
    assert claim.assessment["payable_capitals"] == "肆佰柒拾元整"
    assert claim.pay_due == date(2024, 6, 18) and claim.pay_limit == date(
        2024, 6, 23
    )  # 15 / 20 days of receipt
    steps = [
        (h["from"], h["to"], h["actor"], h["reason"])
        for h in ops.history(session, claim_id=claim.id)
    ]
    assert steps[0] == (None, "draft", "clerk:wang", "新建申请")
    assert ("submitted", "returned", "reviewer:li", "结算单不清晰，请重新扫描") in steps
    assert ("returned", "submitted", "clerk:wang", "重新提交") in steps
    assert steps[-1] == ("submitted", "approved", "reviewer:li", "审核通过，补助 470.00 元")
    assert all(h["at"] for h in ops.history(session, claim_id=claim.id))
    reviews = session.scalars(
        select(Review).where(Review.claim_id == claim.id).order_by(Review.at)
    ).all()
    assert [(r.decision, r.reviewer) for r in reviews] == [
        ("returned", "reviewer:li"),
        ("approved", "reviewer:li"),
    ]
    assert [e for e, _ in events(session)] == [
        "claim_submitted",
        "claim_returned",
        "claim_submitted",
        "claim_approved",
    ]
    approved = events(session)[-1][1]
    assert approved == {
        "v": 1,
        "claim_id": claim.id,
        "city": "zhangjiakou",
        "year": 2024,
        "benefit": "general_illness",
        "unit_id": "unit-1",
        "member_id": claim.member_id,
        "payable": "470.00",
        "attempt": 1,
    }


def test_reject_needs_a_reason(session, zhangjiakou, cover):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    claim = new_claim(session, zhangjiakou, cover, MEMBER, critical(), year=2024, today=ZJK_DAY)
    with pytest.raises(WorkflowError, match="原因"):
        ops.reject(
            session, claim_id=claim.id, actor="reviewer:li", reason="", record=record(session)
        )
    ops.reject(
        session,
        claim_id=claim.id,
        actor="reviewer:li",
        reason="诊断证明与病案首页不符",
        record=record(session),
    )
    assert claim.status == "rejected"
    with pytest.raises(WorkflowError):
        ops.submit(
            session,
            zhangjiakou,
            claim_id=claim.id,
            actor="clerk",
            today=ZJK_DAY,
            cover=cover,
            record=record(session),
        )


def test_a_wujin_members_second_stay_tops_up_to_the_new_band(session, wujin, cover):
    cover.enrol("wujin", 2024, MEMBER)
    first = new_claim(
        session,
        wujin,
        cover,
        MEMBER,
        inpatient("6000"),
        year=2024,
        today=WUJIN_DAY,
        not_applicable=SETTLED,
    )
    approve(session, wujin, first, WUJIN_DAY)
    second = new_claim(
        session,
        wujin,
        cover,
        MEMBER,
        inpatient("5000", "2024-05-20"),
        year=2024,
        today=WUJIN_DAY,
        not_applicable=SETTLED,
    )
    approve(session, wujin, second, WUJIN_DAY)

    assert (first.payable, second.payable) == (
        Decimal("1000.00"),
        Decimal("500.00"),
    )  # 11000 → band 1500
    assert any("补差 1500.00 − 1000.00 = 500.00" in line for line in second.assessment["explain"])
    assert accumulators.member_totals(
        session, city="wujin", year=2024, id_number=MEMBER.id_number
    ) == {"inpatient": {"payable": "1500.00", "counted": "11000.00", "claims": 2}}


def test_a_wujin_zero_answer_is_kept_with_its_counted_amount(session, wujin, cover):
    """999.99 pays nothing but enters the year's total, so 0.01 more reaches the 1000 band."""
    cover.enrol("wujin", 2024, MEMBER)
    below = new_claim(
        session,
        wujin,
        cover,
        MEMBER,
        inpatient("999.99"),
        year=2024,
        today=WUJIN_DAY,
        not_applicable=SETTLED,
    )
    approve(session, wujin, below, WUJIN_DAY)
    assert (below.status, below.payable, below.counted) == (
        "approved",
        Decimal("0.00"),
        Decimal("999.99"),
    )
    assert below.pay_due is None and below.payout_attempt == 0  # nothing to pay
    assert events(session)[-1][1]["payable"] == "0.00"

    cent = new_claim(
        session,
        wujin,
        cover,
        MEMBER,
        inpatient("0.01", "2024-05-02"),
        year=2024,
        today=WUJIN_DAY,
        not_applicable=SETTLED,
    )
    approve(session, wujin, cent, WUJIN_DAY)
    assert cent.payable == Decimal("500.00")


def test_lists_mask_id_numbers(session, zhangjiakou, cover):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    new_claim(session, zhangjiakou, cover, MEMBER, critical(), year=2024, today=ZJK_DAY)
    (row,) = queues.list_claims(session, city="zhangjiakou", year=2024)
    assert MEMBER.id_number not in str(row) and row["id_number"].endswith(MEMBER.id_number[-4:])
    assert (row["status"], row["payable"], row["unit"]) == ("submitted", "12000.00", "测试单位工会")


def test_a_reviewer_lists_the_documents_and_a_clerk_may_remove_one_while_editable(
    session, zhangjiakou, cover
):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    claim = new_claim(
        session, zhangjiakou, cover, MEMBER, critical(), year=2024, today=ZJK_DAY, submit=False
    )
    listed = attachments.list_attachments(session, claim_id=claim.id)
    assert [a["documents"] for a in listed][:2] == [["申请表"], ["医疗费用结算单"]]
    assert len(listed) == 6
    first, content = attachments.attachment_content(
        session, attachment_id=listed[0]["attachment_id"]
    )
    assert content.startswith(b"%PDF-") and hashlib.sha256(content).hexdigest() == first.sha256
    assert attachments.attachment_content(session, attachment_id=first.id, claim_id=claim.id) == (
        first,
        content,
    )
    # a claim one may read is no key to another claim's files: the same answer as none
    with pytest.raises(NotFound, match="没有附件"):
        attachments.attachment_content(session, attachment_id=first.id, claim_id="another")

    attachments.remove_attachment(session, attachment_id=first.id, actor="clerk:wang")
    with pytest.raises(SubmissionRefused, match="缺少材料: 申请表"):
        ops.submit(
            session,
            zhangjiakou,
            claim_id=claim.id,
            actor="clerk",
            today=ZJK_DAY,
            cover=cover,
            record=record(session),
        )
    assert ops.history(session, claim_id=claim.id)[-1]["reason"] == "删除材料「申请表」0.pdf"


def test_the_date_that_counts_must_be_given_and_the_name_must_be_the_rosters(
    session, zhangjiakou, cover
):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    facts = {k: v for k, v in critical().items() if k != "admission_date"}
    undated = new_claim(
        session, zhangjiakou, cover, MEMBER, facts, year=2024, today=ZJK_DAY, submit=False
    )
    with pytest.raises(SubmissionRefused, match="按入院日期确定保障年度，请填写入院日期"):
        ops.submit(
            session,
            zhangjiakou,
            claim_id=undated.id,
            actor="clerk",
            today=ZJK_DAY,
            cover=cover,
            record=record(session),
        )
    misnamed = ops.create_claim(
        session,
        zhangjiakou,
        year=2024,
        id_number=MEMBER.id_number,
        facts=critical(),
        actor="clerk",
        name="王五",
    )
    attach_all(session, zhangjiakou, misnamed)
    with pytest.raises(
        SubmissionRefused, match=f"申请人姓名「王五」与参保名册「{MEMBER.name}」不一致"
    ):
        ops.submit(
            session,
            zhangjiakou,
            claim_id=misnamed.id,
            actor="clerk",
            today=ZJK_DAY,
            cover=cover,
            record=record(session),
        )


def test_a_draft_learns_its_unit_and_district_from_cover_when_the_date_that_counts_is_given(
    session, zhangjiakou, cover
):
    cover.enrol("zhangjiakou", 2024, MEMBER, unit_id="unit-e", district="桥东区")
    facts = {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-03-01"}
    dated = ops.create_claim(
        session,
        zhangjiakou,
        year=2024,
        id_number=MEMBER.id_number,
        facts=facts,
        actor="clerk:wang",
        cover=cover,
    )
    assert (dated.status, dated.unit_id, dated.district) == ("draft", "unit-e", "桥东区")
    assert cover.calls == [("zhangjiakou", MEMBER.id_number, date(2024, 3, 1))]

    undated = {k: v for k, v in facts.items() if k != "admission_date"}
    draft = ops.create_claim(
        session,
        zhangjiakou,
        year=2024,
        id_number=MEMBER.id_number,
        facts=undated,
        actor="clerk:wang",
        cover=cover,
    )
    assert (draft.unit_id, draft.district) == (None, None)  # submit asks cover, with the date
    assert len(cover.calls) == 1
