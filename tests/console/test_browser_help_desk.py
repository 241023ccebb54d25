"""The help desk's page in headless Chromium at a phone's width, without JavaScript: the help
desk signs in and lands on it, looks a member up by mobile number and by claim number, and
reads the claim's status and amount and the SMS sent (which notice, when, delivered or not),
every ID and phone masked; by phone the member's drafts too, which sent no SMS; a number that is not a mobile and a claim that is not there are
one message on the same page; another city's help desk finds nothing of this city's; a unit
clerk meets the 403 page. The SMS are notify's own, sent through the embedded outbox by the
events the enrolment and the claim raised."""

from __future__ import annotations

import re

import eventlet
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from selenium.webdriver.common.by import By
from sqlalchemy import select

from services.console.help_desk import NO_SUCH_CLAIM, NOT_A_MOBILE, SMS_NOTICES, SMS_STATES
from services.kernel.privacy import mask_id, mask_phone
from services.notify.dependencies import Sender
from services.notify.models import STATUSES, Message
from services.notify.service import NotifyService
from services.notify.templates import EVENTS
from tests.access.test_http import PEOPLE
from tests.claims.flow import pdf
from tests.console.browser import click, cookies_of, in_database, sign_in, text
from tests.console.conftest import CITY, PHONE, YEAR
from tests.console.test_browser_review import (
    FACTS,
    documents,
    enrolled,
    fits,
    submitted_claim,
)
from tests.notify.conftest import NOON

CLERK_A, HELP_DESK, WUJIN_DESK = 0, 9, 10  # the console fixture's demo users
RECEIPT_TOKEN = "help-desk-receipts"


@pytest.fixture
def notify(console, container_factory, rabbit_config, web_config, tmp_path):
    """notify beside the console's services, sending to the embedded outbox at once: its
    clock pinned at noon, outside the quiet hours that would hold the notices till 08:00."""

    class Notify(NotifyService):
        sender = Sender(now=lambda: NOON)

    config = {
        **rabbit_config,
        **web_config,
        "DATABASES": {"notify": f"sqlite:///{tmp_path}/var/notify.sqlite"},
        "DATABASE_CREATE_TABLES": True,
        "AUTH_KEY_DIR": f"{tmp_path}/auth",
        "SMS_SEND_INTERVAL": 0.05,
        "SMS_RECEIPT_TOKEN": RECEIPT_TOKEN,
    }
    container_factory(Notify, config).start()
    return console


def sent(tmp_path, phone: str, templates: set[str]) -> dict[str, str]:
    """Each of ``templates``' message to ``phone``, by template, once all are sent (the events
    travel through the outbox relays and notify's sender loop): their ids."""

    def read(session):
        rows = session.scalars(select(Message).where(Message.phone == phone))
        return {m.template: (m.id, m.status) for m in rows}

    for _ in range(600):
        found = in_database(tmp_path, "notify", read)
        if set(found) == templates and all(s == "sent" for _, s in found.values()):
            return {t: message_id for t, (message_id, _) in found.items()}
        eventlet.sleep(0.05)
    raise AssertionError(f"not sent within 30 s: {found}")


def rows(driver, table: str) -> list[dict[str, str]]:
    """A table's rows, each cell by its label (the stacked table's data-label)."""
    return [
        {td.get_attribute("data-label"): td.text for td in tr.find_elements(By.TAG_NAME, "td")}
        for tr in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    ]


def look_up(driver, field: str, typed: str) -> None:
    box = driver.find_element(By.ID, field)
    box.clear()
    box.send_keys(typed)
    click(driver, By.ID, "by-phone" if field == "phone" else "by-claim")


def posted(driver, base: str, **form) -> requests.Response:
    """The same form posted beside the browser, as its person: for the status code."""
    cookies = cookies_of(driver)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', driver.page_source).group(1)
    return requests.post(
        f"{base}/console/help", data={**form, "csrf_token": csrf}, cookies=cookies, timeout=30
    )


@pytest.mark.rabbit
def test_the_help_desk_tells_a_member_where_the_claim_stands_and_which_sms_were_sent(
    notify, browser, shot, rabbit_config, tmp_path
):
    base, unit_a, _ = notify
    enrolled(rabbit_config, unit_a)  # each member of the roster is told by SMS
    member = PEOPLE[3]
    files = {name: (f"{i}.pdf", pdf(str(i))) for i, name in enumerate(documents())}
    claim_id = submitted_claim(rabbit_config, member, files)  # and told it was received
    with ClusterRpcProxy(rabbit_config) as rpc:
        payable = rpc.claims.claim(claim_id)["payable"]
    assert payable and payable != "0.00"
    ids = sent(tmp_path, member.phone, {"members_enrolled", "claim_submitted"})
    # a draft made since, and another member's draft: claims that sent no SMS
    drafts = {}
    with ClusterRpcProxy(rabbit_config) as rpc:
        for who in (member, PEOPLE[5]):
            made = rpc.claims.create_claim(CITY, YEAR, who.id_number, FACTS, "clerk", who.name)
            drafts[who.id_number] = made["claim_id"]
    # the gateway reports the claim's notice delivered; the enrolment's has no receipt yet
    receipt = [{"out_id": ids["claim_submitted"], "success": True, "err_code": "DELIVERED"}]
    answer = requests.post(f"{base}/notify/receipts/aliyun/{RECEIPT_TOKEN}", json=receipt)
    assert answer.status_code == 200, answer.text

    desk = browser(PHONE, javascript=False)
    sign_in(desk, base, HELP_DESK)
    assert desk.current_url == f"{base}/console/help"  # the help desk's home
    assert fits(desk)
    shot(desk, "help-desk-home")

    # by the member's mobile number, typed as people say it
    look_up(desk, "phone", f"{member.phone[:3]} {member.phone[3:7]} {member.phone[7:]}")
    assert text(desk, "looked-up") == f"手机号 {mask_phone(member.phone)}"
    # the member's claims, each once (the submitted one is found through its SMS as well),
    # the newest first: the draft, which no SMS names
    draft, claim = rows(desk, "claims")
    assert (draft["申请编号"], draft["状态"]) == (drafts[member.id_number], "草稿")
    assert claim["职工"] == member.name and claim["证件号"] == mask_id(member.id_number)
    assert (claim["状态"], claim["应付金额（元）"]) == ("已提交", payable)
    assert claim["申请编号"] == claim_id
    newest, first = rows(desk, "messages")
    masked = mask_phone(member.phone)
    assert (newest["短信"], newest["手机号"], newest["状态"]) == ("补助申请受理", masked, "已送达")
    assert newest["送达时间"] and member.name in newest["内容"]
    assert (first["短信"], first["手机号"], first["状态"]) == (
        "参保成功",
        masked,
        "已发出，等待回执",
    )
    assert first["送达时间"] == "" and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", first["时间"])
    page = desk.page_source
    assert member.phone not in page and member.id_number not in page
    assert desk.find_element(By.ID, "phone").get_attribute("value") == ""  # not echoed in full
    assert fits(desk)
    shot(desk, "by-phone")

    # a member whose only claim is a draft: found by their phone all the same
    other = PEOPLE[5]
    look_up(desk, "phone", other.phone)
    (only,) = rows(desk, "claims")
    assert (only["申请编号"], only["状态"]) == (drafts[other.id_number], "草稿")
    assert (only["职工"], only["证件号"]) == (other.name, mask_id(other.id_number))
    assert [m["短信"] for m in rows(desk, "messages")] == ["参保成功"]  # none about the claim
    assert other.phone not in desk.page_source and other.id_number not in desk.page_source

    # a number that is not a mobile: one message on the same page, what was typed kept
    look_up(desk, "phone", member.phone[:10])
    assert text(desk, "refused") == NOT_A_MOBILE
    assert desk.find_element(By.ID, "phone").get_attribute("value") == member.phone[:10]
    assert not desk.find_elements(By.ID, "messages")
    shot(desk, "not-a-mobile")
    refused = posted(desk, base, phone="12345")
    assert refused.status_code == 422 and NOT_A_MOBILE in refused.text

    # by the claim's number: the claim and the one SMS about it
    look_up(desk, "claim", claim_id)
    (claim,) = rows(desk, "claims")
    assert (claim["状态"], claim["应付金额（元）"]) == ("已提交", payable)
    (about,) = rows(desk, "messages")
    assert (about["短信"], about["状态"]) == ("补助申请受理", "已送达")
    assert member.id_number not in desk.page_source and member.phone not in desk.page_source
    click(desk, By.LINK_TEXT, claim_id)  # the claim's page, and the way back
    assert text(desk, "claim-number") == claim_id
    click(desk, By.PARTIAL_LINK_TEXT, "客服查询")
    assert desk.current_url == f"{base}/console/help"

    # a claim that is not there
    look_up(desk, "claim", "00000000-0000-4000-8000-000000000000")
    assert text(desk, "refused") == NO_SUCH_CLAIM
    assert posted(desk, base, claim="no-such-claim").status_code == 404
    assert fits(desk)
    shot(desk, "no-such-claim")

    # another city's help desk: none of this city's messages, nor the claim
    sign_in(desk, base, WUJIN_DESK)
    look_up(desk, "phone", member.phone)
    assert rows(desk, "messages") == [] and text(desk, "no-messages")
    assert rows(desk, "claims") == [] and text(desk, "no-claims")
    look_up(desk, "claim", claim_id)
    assert text(desk, "refused") == NO_SUCH_CLAIM

    # a unit clerk: the 403 page, for the page and for a look-up posted to it
    clerk = browser(PHONE)
    sign_in(clerk, base, CLERK_A)
    clerk.get(f"{base}/console/help")
    assert "无权访问" in clerk.find_element(By.TAG_NAME, "h1").text
    shot(clerk, "clerk-forbidden")
    assert requests.get(f"{base}/console/help", cookies=cookies_of(clerk)).status_code == 403
    forbidden = posted(clerk, base, phone=member.phone)
    assert forbidden.status_code == 403 and masked not in forbidden.text


def test_the_page_names_every_notice_and_state_notify_has():
    assert set(SMS_NOTICES) == set(EVENTS)
    assert set(SMS_STATES) == set(STATUSES)
