"""Issue 15's finance desk in headless Chromium: a held payment's refund proposed by one
finance person and approved by a second (the first cannot), a short payment applied (a clerk
may not), payouts listed by state and a failed payout with the bank's reason, a statement
upload reconciled (a missing, an extra and a short line) with its Excel report, and finance
of another city meeting the 403 page. Payments is called as the signed-in person: its own
access table (services/payments/access.py) keeps each to their city."""

from __future__ import annotations

import base64
import io
import time

import pytest
import requests
from openpyxl import load_workbook
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from services.kernel.registry import load_registry
from services.payments import desk, receipts
from services.payments.models import Invoice, Receipt
from tests.access.test_http import PEOPLE, roster_bytes
from tests.console.browser import click, cookies_of, in_database, sign_in, text
from tests.console.conftest import CITY, PHONE
from tests.payments.conftest import Recorder
from tests.payments.samples import DORMANT, final_payouts, statement_csv, three_premiums

pytestmark = pytest.mark.rabbit

CLERK, FINANCE, SECOND, OTHER_CITY = 0, 3, 5, 6  # the console fixture's demo users


def stray_payment(session, account: str) -> str:
    """500 yuan into the fund account with a remark naming no invoice: held for finance."""
    receipt = receipts.receive_premium(
        session,
        provider="bank/sim",
        event={
            "event_id": "SER-STRAY",
            "occurred_at": "2024-03-02T09:30:00+08:00",
            "account": account,
            "amount": "500.00",
            "currency": "CNY",
            "reference": "货款",
            "payer_name": "某某商贸公司",
        },
        callback_id=None,
        record=Recorder(),
    )
    return receipt.id


def forged_post(driver, path: str, fields: dict) -> None:
    """A form the page does not offer, posted from the browser with its own session and CSRF
    token (what a person could hand-craft): the answer is the page the browser shows."""
    script = """
        const [path, fields] = arguments;
        const form = document.createElement('form');
        form.method = 'post';
        form.action = path;
        for (const [name, value] of Object.entries(fields)) {
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = name; input.value = value;
            form.appendChild(input);
        }
        const button = document.createElement('button');
        button.type = 'submit'; button.id = 'forged';
        form.appendChild(button);
        document.body.appendChild(form);
    """
    token = cookies_of(driver)["console_csrf"]
    driver.execute_script(script, path, {**fields, "csrf_token": token})
    click(driver, By.ID, "forged")


def test_the_finance_desk_refunds_with_four_eyes_lists_payouts_and_reconciles(
    console, browser, shot, tmp_path
):
    base, _, _ = console
    policy = load_registry().get(CITY)

    def money(session):
        account = three_premiums(session, policy, Recorder())
        return (
            account,
            stray_payment(session, account),
            final_payouts(session, Recorder(), account=account),
        )

    account, stray_id, made = in_database(tmp_path, "payments", money)

    # -- the first finance person, on a phone: the held payment, a refund proposed ----------
    phone = browser(PHONE)
    sign_in(phone, base, FINANCE)
    (row,) = phone.find_elements(By.CSS_SELECTOR, "#held tbody tr")
    assert "附言中找不到缴费码" in row.find_element(By.CSS_SELECTOR, ".reason").text
    assert row.find_element(By.CSS_SELECTOR, ".amount").text == "500.00"
    shot(phone, "held")
    phone.find_element(By.ID, "refund-reason-0").send_keys("非互助金，商贸公司误汇，原路退回")
    click(phone, By.ID, "refund-0")
    assert "商贸公司误汇" in text(phone, "pending-0")
    assert "另一位财务" in text(phone, "waiting-0")
    assert not phone.find_elements(By.ID, "approve-0")  # not offered to the proposer
    shot(phone, "refund-proposed")
    # nor taken from the proposer when forged: payments refuses, nothing decided
    resolutions = in_database(
        tmp_path, "payments", lambda session: desk.resolutions(session, stray_id)
    )
    (pending,) = [r for r in resolutions if r["status"] == "proposed"]
    forged = requests.post(
        f"{base}/console/finance/refunds/{pending['resolution_id']}/decide",
        data={"action": "approve", "csrf_token": cookies_of(phone)["console_csrf"]},
        cookies=cookies_of(phone),
    )
    assert forged.status_code == 422 and "另一人审批" in forged.text

    # -- finance of another city: not their money (the 403 page), nothing decided ---------
    other = browser(PHONE)
    sign_in(other, base, OTHER_CITY)
    assert "没有挂账款项" in other.page_source  # their own city's desk
    forged_post(
        other, f"/console/finance/refunds/{pending['resolution_id']}/decide", {"action": "approve"}
    )
    assert "无权访问" in other.find_element(By.TAG_NAME, "h1").text
    shot(other, "other-city-forbidden")
    other.get(f"{base}/console/finance/payouts")
    assert text(other, "none") == "还没有补助支付。"  # Zhangjiakou's are not theirs

    # -- the second finance person approves it --------------------------------------------
    desk_ = browser()
    sign_in(desk_, base, SECOND)
    assert "钱财 (qc-1) 提出" in text(desk_, "pending-0")
    desk_.find_element(By.ID, "decide-reason-0").send_keys("已核对银行回单")
    shot(desk_, "refund-to-approve")
    click(desk_, By.ID, "approve-0")
    assert "没有挂账款项" in desk_.page_source
    status, (done,) = in_database(
        tmp_path,
        "payments",
        lambda session: (
            session.get(Receipt, stray_id).status,
            desk.resolutions(session, stray_id),
        ),
    )
    assert status == receipts.REFUNDED
    assert (done["proposed_by"], done["decided_by"]) == ("钱财 (qc-1)", "孙会计 (sk-1)")

    # -- payouts by state, and the failed one with the bank's reason ----------------------
    click(desk_, By.ID, "nav-payouts")
    rows = desk_.find_elements(By.CSS_SELECTOR, "#payouts tbody tr")
    assert len(rows) == 3
    Select(desk_.find_element(By.ID, "status")).select_by_value("failed")
    click(desk_, By.ID, "filter")
    (failed,) = desk_.find_elements(By.CSS_SELECTOR, "#payouts tbody tr")
    assert failed.find_element(By.CSS_SELECTOR, ".amount").text == "200.00"
    card = failed.find_element(By.CSS_SELECTOR, ".card").text
    assert "*" in card and made["failed"].card_number not in desk_.page_source
    assert "支付失败：账户冻结或久悬" in failed.find_element(By.CSS_SELECTOR, ".status").text
    shot(desk_, "payouts-failed")
    click(desk_, By.ID, "nav-failed")
    shown = {
        tr.find_element(By.CSS_SELECTOR, ".bank-code").text: (
            tr.find_element(By.CSS_SELECTOR, ".reason").text,
            tr.find_element(By.CSS_SELECTOR, ".bank-message").text,
        )
        for tr in desk_.find_elements(By.CSS_SELECTOR, "#failed tbody tr")
    }
    assert shown == {
        DORMANT[0]: ("账户冻结或久悬", DORMANT[1]),
        "R07": ("账户已销户", "收款账户已销户"),
    }
    shot(desk_, "failed")

    # -- a statement with a missing, an extra and a short line ----------------------------
    click(desk_, By.ID, "nav-reconcile")
    statement = tmp_path / "对账单-0301.csv"
    statement.write_bytes(statement_csv())
    desk_.find_element(By.ID, "account").send_keys(account)
    desk_.find_element(By.ID, "statement").send_keys(str(statement))
    click(desk_, By.ID, "reconcile")

    def cells(table: str) -> list[list[str]]:
        return [
            [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in desk_.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
        ]

    assert [r[1] for r in cells("matched")] == ["SER1"]
    assert [(r[1], r[3], r[4], r[5]) for r in cells("amount-differs")] == [
        ("SER2", "2950.00", "3000.00", "-50.00")
    ]
    assert [(r[1], r[3]) for r in cells("ours-only")] == [("SER3", "3000.00")]
    assert [(r[1], r[3]) for r in cells("bank-only")] == [("SER9", "88.00")]
    assert not desk_.find_elements(By.ID, "duplicates")
    shot(desk_, "reconciled")
    href = desk_.find_element(By.ID, "download").get_attribute("href")
    workbook = load_workbook(io.BytesIO(base64.b64decode(href.split("base64,", 1)[1])))
    counts = {r[0]: r[1] for r in workbook["汇总"].iter_rows(min_row=3, values_only=True)}
    assert counts == {"已核对": 1, "金额不符": 1, "银行无此笔": 1, "系统无此笔": 1, "重复导入": 0}

    # the same statement again: every line a duplicate, ignored
    desk_.find_element(By.ID, "statement").send_keys(str(statement))
    click(desk_, By.ID, "reconcile")
    assert len(cells("duplicates")) == 3 and "新导入 0 行" in text(desk_, "summary")


def held_short_payment(tmp_path, application_id: str) -> str:
    """The bank reports 100 元 less than the unit's invoice: payments holds it (the invoice
    comes from payments' own handler of application_submitted: waited for)."""

    def short_payment(session) -> str | None:
        invoice = session.scalar(select(Invoice).where(Invoice.application_id == application_id))
        if invoice is None:
            return None
        return receipts.receive_premium(
            session,
            provider="bank/sim",
            event={
                "event_id": "SER-SHORT",
                "occurred_at": "2024-03-05T10:00:00+08:00",
                "account": invoice.account_number,
                "amount": str(invoice.amount - 100),
                "currency": "CNY",
                "reference": invoice.reference,
                "payer_name": "A工会",
            },
            callback_id=None,
            record=Recorder(),
        ).id

    deadline = time.monotonic() + 30
    while (receipt_id := in_database(tmp_path, "payments", short_payment)) is None:
        assert time.monotonic() < deadline, "payments issued no invoice"
        time.sleep(0.2)
    return receipt_id


def test_finance_applies_a_held_short_payment_and_a_clerk_may_not(console, browser, shot, tmp_path):
    base, _, _ = console
    driver = browser()
    sign_in(driver, base, CLERK)
    driver.find_element(By.ID, "participants").send_keys(str(len(PEOPLE)))
    click(driver, By.ID, "open")
    application_id = driver.current_url.rsplit("/", 1)[-1]
    roster = tmp_path / "名册.xlsx"
    roster.write_bytes(roster_bytes(PEOPLE))
    driver.find_element(By.ID, "roster").send_keys(str(roster))
    click(driver, By.ID, "upload")
    click(driver, By.ID, "submit")
    assert text(driver, "status") == "已提交"
    driver.get(f"{base}/console/finance")  # a clerk: not a finance page
    assert "无权访问" in driver.find_element(By.TAG_NAME, "h1").text

    receipt_id = held_short_payment(tmp_path, application_id)
    phone = browser(PHONE)
    sign_in(phone, base, FINANCE)
    (row,) = phone.find_elements(By.CSS_SELECTOR, "#held tbody tr")
    assert "金额少于应缴" in row.text and "A工会" in row.text
    shot(phone, "finance-held")
    phone.find_element(By.ID, "apply-reason-0").send_keys("单位来函：少缴 100 元次日补缴")
    click(phone, By.ID, "apply-0")
    assert "没有挂账款项" in phone.page_source
    shot(phone, "finance-resolved")
    status, done = in_database(
        tmp_path,
        "payments",
        lambda session: (
            session.get(Receipt, receipt_id).status,
            desk.resolutions(session, receipt_id),
        ),
    )
    assert status == "applied"
    assert done[-1]["proposed_by"] == "钱财 (qc-1)" and "次日补缴" in done[-1]["reason"]


def test_a_refused_resolution_is_explained_above_the_list_with_what_was_typed_kept(
    console, browser, shot, tmp_path
):
    """Payments refuses (a code naming no invoice, the proposer approving their own refund,
    a refund someone else decided meanwhile, a statement of another day): the reason is shown
    above the held list or the statement form, in Chinese, with what the person typed still in
    place; without JavaScript; nothing is resolved."""
    base, _, _ = console
    policy = load_registry().get(CITY)

    def money(session):
        account = three_premiums(session, policy, Recorder())
        return account, stray_payment(session, account)

    account, stray_id = in_database(tmp_path, "payments", money)

    def state(session):
        return session.get(Receipt, stray_id).status, desk.resolutions(session, stray_id)

    # -- a code that names no invoice: the reason above the list, both fields as typed --------
    phone = browser(PHONE, javascript=False)
    sign_in(phone, base, FINANCE)
    phone.find_element(By.ID, "invoice-code-0").send_keys("ZZ9999")
    phone.find_element(By.ID, "apply-reason-0").send_keys("单位来电：附言写错了缴费码")
    click(phone, By.ID, "apply-0")
    assert phone.find_element(By.TAG_NAME, "h1").text == "挂账款项"
    assert text(phone, "refused") == "未能完成：没有缴费码为 ZZ9999 的缴费通知，请核对"
    assert phone.find_element(By.ID, "invoice-code-0").get_attribute("value") == "ZZ9999"
    typed = phone.find_element(By.ID, "apply-reason-0").get_attribute("value")
    assert typed == "单位来电：附言写错了缴费码"
    assert "refused" in phone.find_element(By.ID, "held-0").get_attribute("class")
    assert in_database(tmp_path, "payments", state) == (receipts.HELD, [])
    shot(phone, "refused-no-such-code")

    # -- four eyes: the proposer's own approval, forged, is refused on the same list ---------
    phone.find_element(By.ID, "refund-reason-0").send_keys("非互助金，商贸公司误汇，原路退回")
    click(phone, By.ID, "refund-0")
    assert not phone.find_elements(By.ID, "refused")  # done: the list, no message
    (pending,) = in_database(tmp_path, "payments", state)[1]
    forged_post(
        phone, f"/console/finance/refunds/{pending['resolution_id']}/decide", {"action": "approve"}
    )
    assert text(phone, "refused") == "未能完成：退款须由提出人以外的另一人审批"
    assert "商贸公司误汇" in text(phone, "pending-0")  # still waiting for another person
    shot(phone, "refused-four-eyes")

    # -- two desks: one approves, the other's decline (typed on the old page) comes too late --
    late = browser()
    sign_in(late, base, SECOND)
    late.find_element(By.ID, "decide-reason-0").send_keys("金额与回单不符，先联系汇款人")
    first = browser()
    sign_in(first, base, SECOND)
    click(first, By.ID, "approve-0")
    click(late, By.ID, "decline-0")
    assert text(late, "refused").startswith("未能完成：处理记录 ")
    assert text(late, "refused").endswith("已处理（已办结）")
    assert "没有挂账款项" in late.page_source  # refunded: nothing left to retry on
    status, (done,) = in_database(tmp_path, "payments", state)
    assert (status, done["status"], done["decision_reason"]) == (receipts.REFUNDED, "done", None)
    shot(late, "refused-already-decided")

    # -- a statement of another day: why, above the form, account and day kept ---------------
    click(phone, By.ID, "nav-reconcile")
    statement = tmp_path / "对账单-0301.csv"
    statement.write_bytes(statement_csv())
    phone.find_element(By.ID, "account").send_keys(account)
    phone.execute_script("document.getElementById('day').value = '2024-03-05'")
    phone.find_element(By.ID, "statement").send_keys(str(statement))
    click(phone, By.ID, "reconcile")
    assert text(phone, "refused") == (
        "未能导入：对账单-0301.csv：第 2、3、4 行的交易日期不是 2024-03-05，请按日导入"
    )
    assert phone.find_element(By.ID, "account").get_attribute("value") == account
    assert phone.find_element(By.ID, "day").get_attribute("value") == "2024-03-05"
    assert not phone.find_elements(By.ID, "report-title")
    shot(phone, "refused-statement")
