"""Issue 15's done-when, in headless Chromium: the clerk's autumn (template, a bad upload with
its errors shown, the fixed upload, submit and the quote), a reviewer's approval of the
application and of a claim with its explanation visible, and a clerk of another unit meeting
the 403 page. Enrollment, claims and the console run in nameko containers on RabbitMQ, one
listener; people sign in through the console's login page (the embedded local issuer)."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from services.kernel.registry import load_registry
from tests.access.test_http import PEOPLE, roster_bytes
from tests.claims.flow import pdf
from tests.console.browser import click, cookies_of, sign_in, text
from tests.console.conftest import CITY, PHONE, YEAR
from tests.enrollment.samples import bad_check_digit

pytestmark = pytest.mark.rabbit


def test_the_clerks_autumn_and_the_reviewers_approvals_in_the_browser(
    console, browser, shot, tmp_path, issuer
):
    base, unit_a, _ = console
    driver = browser(PHONE)  # a members' clerk on her phone
    driver.get(f"{base}/console/applications")
    assert driver.current_url.endswith("/console/login")  # not signed in: the login page
    shot(driver, "login")
    sign_in(driver, base, 0)
    assert "本单位申请" in driver.find_element(By.TAG_NAME, "h1").text
    driver.find_element(By.ID, "participants").send_keys(str(len(PEOPLE)))
    click(driver, By.ID, "open")
    assert "团体申请表" in driver.find_element(By.TAG_NAME, "h1").text
    app_url = driver.current_url
    shot(driver, "application")

    # the city's template, fetched with the browser's session
    template = requests.get(
        driver.find_element(By.ID, "template").get_attribute("href"), cookies=cookies_of(driver)
    )
    assert template.status_code == 200 and template.content[:2] == b"PK"
    assert "attachment" in template.headers["Content-Disposition"]

    bad, good = tmp_path / "名册-有错.xlsx", tmp_path / "名册.xlsx"
    bad.write_bytes(roster_bytes(PEOPLE, broken=True))
    good.write_bytes(roster_bytes(PEOPLE))
    driver.find_element(By.ID, "roster").send_keys(str(bad))
    click(driver, By.ID, "upload")
    errors = driver.find_elements(By.CSS_SELECTOR, "#errors tbody tr")
    assert len(errors) == 1
    row, column, cell, reason = (td.text for td in errors[0].find_elements(By.TAG_NAME, "td"))
    assert (row, column, cell) == ("5", "身份证号", "D5") and "校验" in reason
    (highlighted,) = driver.find_elements(By.CSS_SELECTOR, "#preview td.bad")
    assert highlighted.text == bad_check_digit(PEOPLE[2].id_number)  # the cell as typed
    shot(driver, "roster-errors")
    report = requests.get(
        driver.find_element(By.ID, "report").get_attribute("href"), cookies=cookies_of(driver)
    )
    assert report.status_code == 200 and report.content[:2] == b"PK"
    assert "错误报告" in requests.utils.unquote(report.headers["Content-Disposition"])

    driver.find_element(By.ID, "roster").send_keys(str(good))
    click(driver, By.ID, "upload")
    assert text(driver, "imported") == f"已导入 {len(PEOPLE)} 人。"
    assert text(driver, "roster-rows") == str(len(PEOPLE))
    click(driver, By.ID, "submit")
    assert text(driver, "status") == "已提交"
    total = text(driver, "total")
    assert total.endswith(" 元") and total != "0.00 元"
    assert "元" in text(driver, "capitals")  # the amount in capitals
    assert text(driver, "account")  # the account to pay into
    shot(driver, "quote")

    # -- another unit's clerk: the 403 page, the same for what does not exist ---------------
    sign_in(driver, base, 1)
    driver.get(app_url)
    assert "无权访问" in driver.find_element(By.TAG_NAME, "h1").text
    assert "A工会" not in driver.page_source
    shot(driver, "forbidden")
    driver.get(f"{base}/console/applications/no-such-application")
    assert "无权访问" in driver.find_element(By.TAG_NAME, "h1").text
    assert requests.get(app_url, cookies=cookies_of(driver)).status_code == 403

    # -- the reviewer approves the application, on a desktop --------------------------------
    desk = browser()
    sign_in(desk, base, 2)
    assert "待审核申请" in desk.page_source
    click(desk, By.LINK_TEXT, "A工会")
    click(desk, By.CSS_SELECTOR, "button[value=approve]")
    assert text(desk, "status") == "已审核"

    # the clerk's claim for a member, in the console: the form, each document, submit
    member = PEOPLE[3]
    sign_in(driver, base, 0)
    click(driver, By.ID, "new-claim")
    driver.find_element(By.ID, "claim-name").send_keys(member.name)
    driver.find_element(By.ID, "claim-id").send_keys(member.id_number)
    Select(driver.find_element(By.ID, "claim-benefit")).select_by_value("general_illness")
    driver.find_element(By.ID, "claim-cost").send_keys("20000")
    driver.execute_script("document.getElementById('claim-admission').value = '2024-02-01'")
    shot(driver, "claim-new")
    click(driver, By.ID, "create-claim")
    assert text(driver, "status") == "草稿"
    benefit = next(
        b for b in load_registry().get(CITY).benefits(YEAR) if b.code == "general_illness"
    )
    missing = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#documents li")]
    assert missing == [f"{d}：缺" for d in benefit.attachments]
    for i, _ in enumerate(benefit.attachments):
        document = tmp_path / f"{i}.pdf"
        document.write_bytes(pdf(str(i)))
        driver.find_element(By.NAME, "file").send_keys(str(document))
        click(driver, By.ID, "attach")
        listed = driver.find_elements(By.CSS_SELECTOR, "#documents li")
        assert listed[i].text.endswith("已上传")  # the form offered the next one missing
    done = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#documents li")]
    assert done == [f"{d}：已上传" for d in benefit.attachments]
    shot(driver, "claim-documents")
    click(driver, By.ID, "submit-claim")
    assert text(driver, "status") == "已提交"
    assert text(driver, "payable").endswith(" 元")  # the amount the clerk can tell the member

    desk.get(f"{base}/console/review")
    shot(desk, "review-queue")
    click(desk, By.LINK_TEXT, member.name)
    steps = [li.text for li in desk.find_elements(By.CSS_SELECTOR, "#explain li")]
    assert steps and all(steps)
    assert text(desk, "source").startswith("依据：")
    assert text(desk, "payable").endswith(" 元")
    shot(desk, "claim")
    click(desk, By.ID, "approve")
    assert text(desk, "status") == "已审核"
    shot(desk, "claim-approved")
