"""The finance desk: held money listed, then applied, matched to another invoice, or refunded
(proposed by one person, approved by another), each decision recorded with who and why."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.payments import desk, events, invoices, ledger, receipts
from services.payments.exceptions import DeskError
from tests.payments.samples import application

UNIT = "张家口市宣化区第一中学工会"


@pytest.fixture
def invoice(session, zhangjiakou, record):
    return invoices.issue_for_application(
        session,
        zhangjiakou,
        application=application(zhangjiakou, 2024, UNIT, 60),
        actor="t",
        record=record,
    )


def arrive(session, record, invoice, amount="3000.00", reference=None, event_id="SER1"):
    return receipts.receive_premium(
        session,
        provider="bank/icbc",
        event={
            "event_id": event_id,
            "occurred_at": "2024-03-01T10:00:00+08:00",
            "account": invoice.account_number,
            "amount": amount,
            "currency": "CNY",
            "reference": invoice.reference if reference is None else reference,
            "payer_name": UNIT,
        },
        callback_id=None,
        record=record,
    )


def test_held_items_are_listed_with_their_reasons(session, record, invoice):
    short = arrive(session, record, invoice, amount="2900.00")
    arrive(session, record, invoice, event_id="SER2")  # applied: not listed

    held = desk.list_held(session, "zhangjiakou")

    assert [(h["receipt_id"], h["hold_reason"]) for h in held] == [(short.id, "short")]
    assert held[0]["hold_label"] == "金额少于应缴" and held[0]["pending_refund"] is None


def test_a_short_payment_applied_by_finance_is_recorded_with_who_and_why(session, record, invoice):
    short = arrive(session, record, invoice, amount="2900.00")

    done = desk.apply(
        session,
        receipt_id=short.id,
        actor="财务张",
        reason="单位来函：少缴 100 元次日补缴",
        record=record,
    )

    assert short.status == receipts.APPLIED and done.action == "apply"
    assert desk.resolutions(session, short.id)[0]["proposed_by"] == "财务张"
    assert "次日补缴" in desk.resolutions(session, short.id)[0]["reason"]
    assert ledger.balance(session, ledger.suspense("zhangjiakou").code) == Decimal("0.00")
    assert ledger.unit_balance(session, "zhangjiakou", 2024, invoice.unit_id)["outstanding"] == (
        "100.00"
    )
    assert invoice.status == invoices.OPEN  # 100 still owed
    (paid,) = record.of(events.PREMIUM_PAID)
    assert paid["paid_in_full"] is False
    assert desk.list_held(session) == []


def test_an_unknown_reference_is_matched_to_the_invoice_finance_found(session, record, invoice):
    lost = arrive(session, record, invoice, reference="宣化一中互助金")  # no code, own words

    desk.apply(
        session,
        receipt_id=lost.id,
        invoice_id=invoice.id,
        actor="财务张",
        reason="电话核实为宣化一中",
        record=record,
    )

    assert lost.status == receipts.APPLIED and lost.invoice_id == invoice.id
    assert desk.resolutions(session, lost.id)[0]["action"] == "match"
    assert invoice.status == invoices.PAID


def test_a_refund_needs_a_second_person(session, record, invoice):
    over = arrive(session, record, invoice, amount="3100.00")
    proposal = desk.propose_refund(
        session, receipt_id=over.id, actor="财务张", reason="多缴 3100 元，单位要求原路退回"
    )

    with pytest.raises(DeskError, match="另一人审批"):
        desk.approve_refund(session, resolution_id=proposal.id, actor="财务张")
    assert over.status == receipts.HELD
    assert desk.list_held(session)[0]["pending_refund"]["proposed_by"] == "财务张"
    with pytest.raises(DeskError, match="待审批的退款"):
        desk.apply(session, receipt_id=over.id, actor="财务李", reason="x", record=record)

    desk.approve_refund(session, resolution_id=proposal.id, actor="财务李", reason="核对无误")

    assert over.status == receipts.REFUNDED and proposal.decided_by == "财务李"
    assert ledger.balance(session, ledger.refunds("zhangjiakou").code) == Decimal("-3100.00")
    assert ledger.balance(session, ledger.suspense("zhangjiakou").code) == Decimal("0.00")
    with pytest.raises(DeskError, match="已处理（已办结）"):  # its state in words, for the page
        desk.approve_refund(session, resolution_id=proposal.id, actor="财务王")


def test_a_declined_refund_leaves_the_money_held(session, record, invoice):
    over = arrive(session, record, invoice, amount="3100.00")
    proposal = desk.propose_refund(session, receipt_id=over.id, actor="财务张", reason="退回")

    desk.decline_refund(session, resolution_id=proposal.id, actor="财务李", reason="先联系单位")

    assert over.status == receipts.HELD and proposal.status == desk.DECLINED


def test_a_resolution_needs_a_reason_and_a_held_receipt(session, record, invoice):
    applied = arrive(session, record, invoice)
    with pytest.raises(DeskError, match="写明原因"):
        desk.apply(session, receipt_id=applied.id, actor="a", reason=" ", record=record)
    with pytest.raises(DeskError, match="不是待处理状态（已入账）"):
        desk.apply(session, receipt_id=applied.id, actor="a", reason="r", record=record)
    with pytest.raises(DeskError, match="不是待处理状态（已入账）"):
        desk.propose_refund(session, receipt_id=applied.id, actor="a", reason="r")


def test_a_payment_is_matched_to_another_invoice_by_the_code_a_person_types(
    session, zhangjiakou, record, invoice
):
    stray = arrive(session, record, invoice, reference="互助金", event_id="SER7")  # no code
    other = invoices.issue_for_application(
        session,
        zhangjiakou,
        application=application(zhangjiakou, 2024, "张家口市第二中学工会", 60),
        actor="t",
        record=record,
    )

    with pytest.raises(DeskError, match="没有缴费码为 ZZZZ"):
        desk.apply(
            session,
            receipt_id=stray.id,
            actor="财务李",
            reason="x",
            record=record,
            invoice_code="zzzz",
        )
    done = desk.apply(
        session,
        receipt_id=stray.id,
        actor="财务李",
        reason="单位来电：缴的是二中的互助金",
        record=record,
        invoice_code=f" {other.code.lower()} ",
    )

    assert (done.action, done.invoice_id) == ("match", other.id)
    assert stray.status == receipts.APPLIED


def test_four_eyes_compares_the_person_not_the_name_they_carry(session, record, invoice):
    over = arrive(session, record, invoice, amount="3100.00")
    proposal = desk.propose_refund(
        session, receipt_id=over.id, actor="钱财 (qc-1)", reason="多缴，单位要求退回"
    )

    with pytest.raises(DeskError, match="另一人审批"):  # the same subject, renamed in the IdP
        desk.approve_refund(session, resolution_id=proposal.id, actor="钱小财 (qc-1)")
    desk.approve_refund(session, resolution_id=proposal.id, actor="钱财 (qc-2)")  # a namesake

    assert over.status == receipts.REFUNDED
