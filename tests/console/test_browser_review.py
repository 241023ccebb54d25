"""Issue 15's reviewer, operator and upload pages in headless Chromium: a claim's image and PDF
shown inline to its reviewer (the bytes served are the bytes uploaded, with the headers that
keep them inert), the same file's address answering another unit's clerk the 403 page; the
operator's cities with `city check`'s verdict on each; a long upload's progress bar with
JavaScript, and the same upload without it; the main pages at a phone's width."""

from __future__ import annotations

import base64
import re
import shutil

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from services.access.reads import PERSONAL_DATA_READS
from services.claims.access import VIEWING
from services.kernel.registry import load_registry
from services.onboarding.conformance import check_city
from tests.access.test_http import PEOPLE, roster_bytes
from tests.claims.flow import image, pdf
from tests.console.browser import click, cookies_of, in_database, sign_in, text
from tests.console.conftest import CITY, PHONE, YEAR
from tests.enrollment.samples import person

pytestmark = pytest.mark.rabbit
FACTS = {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2024-02-01"}
CLERK_A, CLERK_B, REVIEWER, OPERATOR = 0, 1, 2, 4


def enrolled(rabbit_config, unit: str, people=PEOPLE) -> str:
    """The unit's roster of ``people``, submitted and approved by the bus (not what is
    tested here)."""
    with ClusterRpcProxy(rabbit_config) as rpc:
        app = rpc.enrollment.open_application(
            CITY, {"unit_id": unit, "year": YEAR, "participants": len(people)}, "clerk"
        )["application_id"]
        data = base64.b64encode(roster_bytes(people)).decode()
        assert rpc.enrollment.import_roster(app, "名册.xlsx", data, "clerk")["errors"] == []
        rpc.enrollment.submit(app, "clerk")
        rpc.enrollment.approve(app, "reviewer")
    return app


def submitted_claim(rabbit_config, member, files: dict[str, tuple[str, bytes]]) -> str:
    """A claim of ``member`` with each document's file, submitted by the bus."""
    with ClusterRpcProxy(rabbit_config) as rpc:
        claim = rpc.claims.create_claim(CITY, YEAR, member.id_number, FACTS, "clerk", member.name)
        for document, (name, data) in files.items():
            content = base64.b64encode(data).decode()
            rpc.claims.add_attachment(claim["claim_id"], document, name, content, "clerk")
        assert rpc.claims.submit(claim["claim_id"], "clerk")["status"] == "submitted"
    return claim["claim_id"]


def documents() -> list[str]:
    benefit = next(
        b for b in load_registry().get(CITY).benefits(YEAR) if b.code == FACTS["benefit"]
    )
    return list(benefit.attachments)


def fits(driver) -> bool:
    """Nothing wider than the window: the page scrolls down, never sideways (a wide table
    scrolls inside its own box)."""
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def reads(session, entrypoint: str) -> list[dict]:
    """The service's access log of ``entrypoint``: who read which record, and why."""
    log = PERSONAL_DATA_READS
    rows = session.execute(
        select(log.c.actor, log.c.why, log.c.record_id).where(log.c.entrypoint == entrypoint)
    )
    return [dict(row._mapping) for row in rows]


def test_a_reviewer_sees_the_claims_image_and_pdf_inline_and_another_units_clerk_may_not(
    console, browser, shot, rabbit_config, tmp_path
):
    base, unit_a, _ = console
    enrolled(rabbit_config, unit_a)
    member = PEOPLE[3]
    photo, scan = image("png", "red", 64), pdf("出院小结")
    names = documents()
    files = {names[0]: ("申请表 照片.png", photo)}
    files.update({name: (f"扫描件{i}.pdf", scan) for i, name in enumerate(names[1:])})
    claim_id = submitted_claim(rabbit_config, member, files)

    desk = browser()
    sign_in(desk, base, REVIEWER)
    # received on 2024-06-01 (the services' day): Zhangjiakou's 15 days, at most 20
    (row,) = desk.find_elements(By.CSS_SELECTOR, "table.queue tbody tr")
    due, limit = (row.find_element(By.CLASS_NAME, k).text for k in ("due", "limit"))
    assert (due, limit) == ("2024-06-16", "2024-06-21")
    click(desk, By.LINK_TEXT, member.name)
    assert desk.current_url == f"{base}/console/claims/{claim_id}"
    # the facts, the assessment step by step and the rule's source in the notice
    assert "医疗总费用" in text(desk, "claim-facts") and "20000" in text(desk, "claim-facts")
    assert [li.text for li in desk.find_elements(By.CSS_SELECTOR, "#explain li")]
    assert text(desk, "source").startswith("依据：")

    (img,) = desk.find_elements(By.CSS_SELECTOR, "#attachments img")
    # loaded and decoded (the page's load event does not wait for a lazy image)
    WebDriverWait(desk, 30).until(lambda d: d.execute_script("return arguments[0].complete", img))
    assert desk.execute_script("return arguments[0].naturalWidth", img) == 64
    objects = desk.find_elements(By.CSS_SELECTOR, "#attachments object[type='application/pdf']")
    assert len(objects) == 1  # one file serving the other documents: shown once
    for link in objects[0].find_elements(By.TAG_NAME, "a"):  # the fallback without a viewer
        assert link.get_attribute("href") == objects[0].get_attribute("data")
    shot(desk, "claim-documents-inline")

    served = {}
    for url, sent, kind in (
        (img.get_attribute("src"), photo, "image/png"),
        (objects[0].get_attribute("data"), scan, "application/pdf"),
    ):
        answer = requests.get(url, cookies=cookies_of(desk))
        assert answer.status_code == 200 and answer.content == sent  # the bytes uploaded
        assert answer.headers["Content-Type"] == kind
        assert answer.headers["Content-Disposition"].startswith("inline; filename*=UTF-8''")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'self'" in policy
        served[kind] = url
    name = requests.get(served["image/png"], cookies=cookies_of(desk)).headers
    assert requests.utils.unquote(name["Content-Disposition"]).endswith("申请表 照片.png")

    # unit A's clerk reaches her member's file; unit B's clerk gets the 403 page, and so
    # does a file asked under a claim she may read (none here) or a made-up one
    clerk = browser(PHONE)
    sign_in(clerk, base, CLERK_A)
    assert requests.get(served["image/png"], cookies=cookies_of(clerk)).content == photo
    sign_in(clerk, base, CLERK_B)
    clerk.get(served["application/pdf"])
    assert "无权访问" in clerk.find_element(By.TAG_NAME, "h1").text
    shot(clerk, "attachment-forbidden")
    for url in (served["image/png"], f"{base}/console/claims/{claim_id}/attachments/none"):
        refused = requests.get(url, cookies=cookies_of(clerk))
        assert refused.status_code == 403 and refused.content != photo
        assert "无权访问" in refused.text

    # each file handed out is in claims' access log with who read it and why; the refused
    # asks left none
    logged = in_database(tmp_path, "claims", lambda session: reads(session, "claims.attachment"))
    assert {r["record_id"] for r in logged} == {claim_id}
    readers = {(r["actor"], r["why"]) for r in logged}
    assert readers == {("李审 (li-1)", VIEWING), ("王芳 (wf-1)", VIEWING)}

    # the reviewer on a phone: the claim page fits the width, the documents within it
    phone = browser(PHONE)
    sign_in(phone, base, REVIEWER)
    assert fits(phone)
    shot(phone, "review-queue-phone")
    phone.get(f"{base}/console/claims/{claim_id}")
    assert fits(phone)
    shot(phone, "claim-phone")


def test_the_operator_sees_each_city_and_its_check(console, browser, shot, tmp_path, monkeypatch):
    base, _, _ = console
    # Wujin's year file with a value the operator has not confirmed: `city check` finds it
    wujin = load_registry().get("wujin")  # the plugin object the console holds too
    copy = tmp_path / "wujin-data"
    shutil.copytree(wujin.data_dir, copy)
    year_file = copy / "2024.yaml"
    source = year_file.read_text(encoding="utf-8")
    marked = re.sub(r"pay_within_days: 10 ", "pay_within_days: !unconfirmed 10 ", source, count=1)
    assert marked != source
    year_file.write_text(marked, encoding="utf-8")
    monkeypatch.setattr(wujin, "data_dir", copy)

    driver = browser(PHONE)
    sign_in(driver, base, OPERATOR)
    assert driver.current_url == f"{base}/console/cities"
    for installed in load_registry():
        row = driver.find_element(By.ID, f"city-{installed.code}")
        years = "、".join(str(y) for y in installed.policy.years())
        assert row.find_element(By.CLASS_NAME, "years").text == years
        findings = [f.line() for f in check_city(installed.policy)]
        shown = [li.text for li in row.find_elements(By.CSS_SELECTOR, ".findings li")]
        check = row.find_element(By.CLASS_NAME, "check").text
        if findings:
            assert check.startswith(f"{len(findings)} 个问题") and shown == findings
        else:
            assert check == "通过" and shown == []
    wujin_row = driver.find_element(By.ID, "city-wujin").text
    assert "未确认" in wujin_row and "pay_within_days" in wujin_row
    assert (
        driver.find_element(By.ID, "city-zhangjiakou").find_element(By.CLASS_NAME, "check").text
        == "通过"
    )
    assert fits(driver)
    shot(driver, "cities-phone")


def seen_progress(driver, form: str) -> None:
    """Record each change of the form's <progress> where the next page can read it (the
    upload script may write the server's answer into this window)."""
    driver.execute_script(
        """
        sessionStorage.setItem("seen", "[]");
        const bar = document.querySelector(arguments[0] + " progress");
        new MutationObserver(() => {
          const seen = JSON.parse(sessionStorage.getItem("seen"));
          seen.push({hidden: bar.hidden, value: bar.getAttribute("value"),
                     max: bar.getAttribute("max")});
          sessionStorage.setItem("seen", JSON.stringify(seen));
        }).observe(bar, {attributes: true});
        """,
        form,
    )


def progress_of(driver) -> list[dict]:
    return driver.execute_script("return JSON.parse(sessionStorage.getItem('seen'))")


def open_application(driver) -> str:
    driver.find_element(By.ID, "participants").send_keys(str(len(PEOPLE)))
    click(driver, By.ID, "open")
    return driver.current_url


def test_uploads_show_their_progress_and_work_without_javascript(
    console, browser, shot, tmp_path, rabbit_config
):
    base, unit_a, unit_b = console
    roster = tmp_path / "名册.xlsx"
    roster.write_bytes(roster_bytes(PEOPLE))

    # with JavaScript: the bar is shown at 0, measures the whole body sent (the file and the
    # form's fields), then has no measure while the server reads the roster; the page
    # answered (the import's result) replaces this one. (On one machine the body goes in one
    # step: DevTools' network throttling slows the answer, not the upload's progress events.)
    driver = browser(PHONE)
    driver.get(f"{base}/console/login")
    assert fits(driver)
    sign_in(driver, base, CLERK_A)
    assert fits(driver)
    page = open_application(driver)
    # a roster with an error first: the error table and the row as typed, on the phone
    broken = tmp_path / "名册-有错.xlsx"
    broken.write_bytes(roster_bytes(PEOPLE, broken=True))
    driver.find_element(By.ID, "roster").send_keys(str(broken))
    click(driver, By.ID, "upload")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#errors tbody tr")) == 1
    assert fits(driver)
    shot(driver, "roster-errors-phone")
    seen_progress(driver, "#upload-form")
    driver.find_element(By.ID, "roster").send_keys(str(roster))
    click(driver, By.ID, "upload")
    assert text(driver, "imported") == f"已导入 {len(PEOPLE)} 人。"
    assert driver.current_url == page  # answered in place: the form went by XHR
    seen = progress_of(driver)
    assert seen[0] == {"hidden": False, "value": "0", "max": None}, seen
    sent = [s for s in seen if s["max"] is not None and s["value"] is not None]
    assert sent and sent[-1]["value"] == sent[-1]["max"], seen  # all of it sent
    assert int(sent[-1]["max"]) > roster.stat().st_size
    assert seen[-1]["value"] is None and not seen[-1]["hidden"]  # then the server's turn
    shot(driver, "roster-uploaded-with-progress")

    # a document of a member's claim: the server answers with a redirect, followed
    staff_b = [person(20 + i) for i in range(len(PEOPLE))]  # a unit enrols all its staff
    enrolled(rabbit_config, unit_b, staff_b)
    clerk_b = browser(PHONE)
    sign_in(clerk_b, base, CLERK_B)
    member = staff_b[1]
    with ClusterRpcProxy(rabbit_config) as rpc:
        claim = rpc.claims.create_claim(CITY, YEAR, member.id_number, FACTS, "clerk", member.name)
    clerk_b.get(f"{base}/console/claims/new")
    assert fits(clerk_b)
    clerk_b.get(f"{base}/console/claims/{claim['claim_id']}")
    assert fits(clerk_b)
    scan = tmp_path / "申请表.pdf"
    scan.write_bytes(pdf("申请表"))
    seen_progress(clerk_b, "#attach-form")
    clerk_b.find_element(By.NAME, "file").send_keys(str(scan))
    click(clerk_b, By.ID, "attach")
    assert clerk_b.current_url == f"{base}/console/claims/{claim['claim_id']}"
    assert clerk_b.find_elements(By.CSS_SELECTOR, "#documents li")[0].text.endswith("已上传")
    assert any(not s["hidden"] for s in progress_of(clerk_b))

    # without JavaScript: the same forms post the ordinary way
    plain = browser(PHONE, javascript=False)
    sign_in(plain, base, CLERK_A)
    plain.get(page)  # the same application: the roster sent again replaces the first
    plain.find_element(By.ID, "roster").send_keys(str(roster))
    click(plain, By.ID, "upload")
    assert text(plain, "imported") == f"已导入 {len(PEOPLE)} 人。"
    assert plain.current_url == f"{page}/roster"  # the browser's own post: its answer
    assert fits(plain)
    shot(plain, "roster-uploaded-without-javascript")
    sign_in(plain, base, CLERK_B)
    plain.get(f"{base}/console/claims/{claim['claim_id']}")
    second = tmp_path / "医疗费用结算单.pdf"
    second.write_bytes(pdf("医疗费用结算单"))
    plain.find_element(By.NAME, "file").send_keys(str(second))
    click(plain, By.ID, "attach")
    assert plain.current_url == f"{base}/console/claims/{claim['claim_id']}"  # redirected
    assert [
        li.text.endswith("已上传") for li in plain.find_elements(By.CSS_SELECTOR, "#documents li")
    ][:3] == [True, True, False]
