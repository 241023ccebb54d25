"""Reconciliation of a bank statement (CSV or .xlsx) for an account and day: a statement with a
missing, an extra and a short line reports exactly those three; a line imported twice is
ignored; the answer is JSON and an Excel report."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook

from services.messaging.database import utc_now
from services.payments import payouts, reconcile
from services.payments.exceptions import StatementUnreadable
from services.payments.receipts import SHANGHAI
from tests.payments import samples

DAY = date.fromisoformat(samples.STATEMENT_DAY)
HEADER = samples.STATEMENT_HEADER


@pytest.fixture
def account(session, zhangjiakou, record):
    """Three units' premiums arrived on DAY, by bank serials SER1–SER3 (3000 yuan each)."""
    return samples.three_premiums(session, zhangjiakou, record)


def csv_bytes(rows) -> bytes:
    return samples.statement_csv(rows)


def xlsx_bytes(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["账号", "0412041229300124836"])  # portals put the account above the header
    sheet.append([])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


STATEMENT = samples.STATEMENT


@pytest.mark.parametrize("make, name", [(csv_bytes, "0301.csv"), (xlsx_bytes, "0301.xlsx")])
def test_a_missing_an_extra_and_a_short_line_are_reported_exactly(session, account, make, name):
    result = reconcile.reconcile_file(
        session, data=make(STATEMENT), filename=name, account=account, day=DAY, actor="finance"
    )

    assert [m["bank"]["serial"] for m in result["matched"]] == ["SER1"]
    assert [(d["bank"]["serial"], d["difference"]) for d in result["amount_differs"]] == [
        ("SER2", "-50.00")
    ]
    assert [o["serial"] for o in result["ours_only"]] == ["SER3"]
    assert [(b["serial"], b["amount"]) for b in result["bank_only"]] == [("SER9", "88.00")]
    assert result["duplicates"] == []
    json.dumps(result, ensure_ascii=False)  # the command prints it as JSON


def test_a_line_imported_twice_is_ignored(session, account):
    first = reconcile.reconcile_file(
        session, data=csv_bytes(STATEMENT), filename="a.csv", account=account, day=DAY, actor="f"
    )
    second = reconcile.reconcile_file(
        session,
        data=csv_bytes(STATEMENT + [STATEMENT[0]]),  # again, and one line twice in the file
        filename="b.csv",
        account=account,
        day=DAY,
        actor="f",
    )

    assert second["import"]["new"] == 0 and len(second["duplicates"]) == 4
    for key in ("matched", "amount_differs", "ours_only", "bank_only"):
        assert second[key] == first[key]


def test_lines_are_paired_by_code_in_the_remark_or_by_party_and_amount(session, account):
    statement = [
        # no serial: found by the invoice code in the remark, or by payer and amount
        ("2024-03-01", "3000.00", "张家口市一中工会", "", "互助金"),
        ("2024-03-01", "3000.00", "张家口市二中工会", "", "互助金"),
        ("2024-03-01", "3000.00", "张家口市三中工会", "", "互助金"),
    ]
    result = reconcile.reconcile_file(
        session, data=csv_bytes(statement), filename="c.csv", account=account, day=DAY, actor="f"
    )
    assert len(result["matched"]) == 3 and result["bank_only"] == result["ours_only"] == []


def test_a_paid_payout_is_matched_by_its_id_in_the_remark(session, record):
    payout = payouts.create_payout(
        session,
        details={
            "claim_id": "claim-1",
            "city": "zhangjiakou",
            "year": 2024,
            "name": "李四",
            "payee_card": "6222020200112233445",
            "amount": "1200.00",
            "attempt": 1,
        },
        from_account="0412041229300124836",
        actor="t",
    )
    payouts.take_batch(session, from_account=payout.from_account, size=1, actor="t")
    payouts.apply_result(
        session, payout_id=payout.id, result=payouts.SUCCEEDED, actor="bank", record=record
    )
    today = utc_now().astimezone(SHANGHAI).date()
    statement = [(today.isoformat(), "-1200.00", "李四", "", f"补助 {payout.id}")]

    result = reconcile.reconcile_file(
        session,
        data=csv_bytes(statement),
        filename="d.csv",
        account=payout.from_account,
        day=today,
        actor="f",
    )
    assert [m["ours"]["id"] for m in result["matched"]] == [payout.id]


def test_the_excel_report_has_a_sheet_per_outcome(session, account):
    result = reconcile.reconcile_file(
        session, data=csv_bytes(STATEMENT), filename="a.csv", account=account, day=DAY, actor="f"
    )

    book = load_workbook(io.BytesIO(reconcile.report_workbook(result)))

    assert book.sheetnames == ["汇总", "已核对", "金额不符", "银行无此笔", "系统无此笔", "重复导入"]
    counts = {row[0]: row[1] for row in book["汇总"].iter_rows(min_row=3, values_only=True)}
    assert counts == {"已核对": 1, "金额不符": 1, "银行无此笔": 1, "系统无此笔": 1, "重复导入": 0}
    assert book["系统无此笔"]["E2"].value == "SER9"


@pytest.mark.parametrize(
    "data, words",
    [
        (b"a,b\n1,2\n", "找不到表头"),
        (csv_bytes([("2024-03-01", "abc", "x", "1", "")]), "第 2 行：金额 'abc' 不是金额"),
        (csv_bytes([("2024-03-02", "1.00", "x", "1", "")]), "第 2 行的交易日期不是 2024-03-01"),
        (b"PK\x03\x04broken", "无法作为 Excel 工作簿打开"),
    ],
)
def test_an_unreadable_statement_is_refused_naming_the_row(session, data, words):
    with pytest.raises(StatementUnreadable, match=words):
        reconcile.reconcile_file(
            session, data=data, filename="s.csv", account="1", day=DAY, actor="f"
        )
