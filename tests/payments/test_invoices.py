"""Invoices from an application's quote: the plugin's account and remark, a short code with a
check character, re-issue on resubmission without duplicates, members' own payments."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.payments import events, invoices, ledger
from services.payments.exceptions import InvoiceError
from services.payments.models import Invoice
from tests.payments.samples import application

UNIT = "张家口市宣化区第一中学工会"


def test_a_code_is_eight_characters_without_look_alikes_and_checks_itself():
    codes = {invoices.new_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == 8 and invoices.valid_code(code)
        assert not set(code) & set("01OIL2Z5S8BUV")


def test_the_check_character_catches_one_typo_and_a_swap():
    rng = random.Random(7)
    for _ in range(200):
        code = invoices.new_code()
        position = rng.randrange(8)
        wrong = rng.choice([c for c in invoices.CODE_ALPHABET if c != code[position]])
        assert not invoices.valid_code(code[:position] + wrong + code[position + 1 :])
        i = rng.randrange(7)
        if code[i] != code[i + 1]:
            assert not invoices.valid_code(code[:i] + code[i + 1] + code[i] + code[i + 2 :])


def test_a_code_is_found_inside_a_remark_with_anything_around_it():
    code = invoices.new_code()
    assert invoices.codes_in(f"某单位互助金 {code.lower()}，请查收") == [code]
    assert invoices.codes_in("没有缴费码") == []


def test_zhangjiakou_invoice_carries_the_plugins_account_and_remark(session, zhangjiakou, record):
    app = application(zhangjiakou, 2024, UNIT, 60)

    invoice = invoices.issue_for_application(
        session, zhangjiakou, application=app, actor="enrollment", record=record
    )

    account = zhangjiakou.account(2024, None, UNIT)  # the remark is the plugin's, filled in
    assert invoice.account_number == account.number and invoice.payee == account.payee
    assert invoice.reference == f"{account.remark} {invoice.code}"
    assert invoice.reference.startswith(UNIT)
    assert invoice.amount == Decimal(app["quote"]["total_due"]) == Decimal("3000.00")
    assert invoice.pay_by == zhangjiakou.period(2024).window_end
    assert ledger.unit_balance(session, "zhangjiakou", 2024, app["unit_id"]) == {
        "unit_id": app["unit_id"],
        "billed": "3000.00",
        "received": "0.00",
        "outstanding": "3000.00",
    }
    (issued,) = record.of(events.INVOICE_ISSUED)
    assert issued["invoice_id"] == invoice.id and issued["amount"] == "3000.00"


def test_quzhou_routes_to_the_district_blocks_account(session, quzhou, record):
    app = application(quzhou, 2025, "衢州市柯城区某公司工会", 20, district="柯城区")

    invoice = invoices.issue_for_application(
        session, quzhou, application=app, actor="t", record=record
    )

    assert invoice.account_number == quzhou.account(2025, "柯城区").number
    assert invoice.reference == invoice.code  # Quzhou's notice asks for no remark


def test_a_resubmitted_application_with_the_same_quote_keeps_its_invoice(
    session, zhangjiakou, record
):
    app = application(zhangjiakou, 2024, UNIT, 60)
    first = invoices.issue_for_application(
        session, zhangjiakou, application=app, actor="t", record=record
    )
    again = invoices.issue_for_application(
        session, zhangjiakou, application=app, actor="t", record=record
    )

    assert again.id == first.id
    assert session.scalar(select(func.count()).select_from(Invoice)) == 1
    assert len(record.of(events.INVOICE_ISSUED)) == 1


def test_a_changed_quote_supersedes_the_open_invoice(session, zhangjiakou, record):
    app = application(zhangjiakou, 2024, UNIT, 60)
    first = invoices.issue_for_application(
        session, zhangjiakou, application=app, actor="t", record=record
    )
    returned_and_fixed = application(
        zhangjiakou,
        2024,
        UNIT,
        70,
        application_id=app["application_id"],
        unit_id=app["unit_id"],
    )

    second = invoices.issue_for_application(
        session, zhangjiakou, application=returned_and_fixed, actor="t", record=record
    )

    assert second.id != first.id and second.code != first.code
    assert first.status == invoices.SUPERSEDED and first.superseded_by_id == second.id
    assert second.status == invoices.OPEN and second.amount == Decimal("3500.00")
    # the old invoice's receivable is reversed, not edited: only the new one is owed
    assert ledger.unit_balance(session, "zhangjiakou", 2024, app["unit_id"])["outstanding"] == (
        "3500.00"
    )
    assert ledger.unbalanced_journals(session) == []
    assert record.of(events.INVOICE_ISSUED)[1]["supersedes_id"] == first.id
    # a payment naming the old code finds the invoice that replaced it
    assert invoices.find_for_payment(session, first.code).id == second.id


def test_an_application_without_an_account_or_nothing_due_gets_no_invoice(
    session, zhangjiakou, record
):
    app = application(zhangjiakou, 2024, UNIT, 60)
    no_account = {**app, "quote": {**app["quote"], "account": None}}
    nothing_due = {**app, "quote": {**app["quote"], "total_due": "0.00"}}

    with pytest.raises(InvoiceError, match="收款账户"):
        invoices.issue_for_application(
            session, zhangjiakou, application=no_account, actor="t", record=record
        )
    with pytest.raises(InvoiceError, match="无需"):
        invoices.issue_for_application(
            session, zhangjiakou, application=nothing_due, actor="t", record=record
        )
    assert record.events == []


def test_a_wujin_member_pays_their_own_share_once(session, wujin, record):
    invoice = invoices.issue_for_member(
        session,
        wujin,
        city="wujin",
        year=2024,
        unit_id="unit-9",
        member_id="member-1",
        name="王五",
        actor="member",
        record=record,
    )
    again = invoices.issue_for_member(
        session,
        wujin,
        city="wujin",
        year=2024,
        unit_id="unit-9",
        member_id="member-1",
        name="王五",
        actor="member",
        record=record,
    )

    assert again.id == invoice.id and invoice.kind == invoices.MEMBER
    # 100 yuan, 80 of it the district union's (the plugin's numbers): the member pays 20
    assert invoice.amount == Decimal("20.00")
    assert invoice.account_number == wujin.account(2024, None).number
    assert ledger.balance(
        session, ledger.receivable("wujin", 2024, "unit-9", "member-1").code
    ) == Decimal("20.00")
