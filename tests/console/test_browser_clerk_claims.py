"""Issue 15's clerk coming back to a claim, in headless Chromium at a phone's width: the
unit's list of claims shows the one she made with its status and what it lacks, then the
amount once submitted, and after the reviewer returns it, 已退回 with the reason; a clerk of
another unit sees none of it and meets the 403 page at its address."""

from __future__ import annotations

import base64

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.access.test_http import PEOPLE
from tests.claims.flow import pdf
from tests.console.browser import click, sign_in, text
from tests.console.conftest import CITY, PHONE, YEAR
from tests.console.test_browser_review import FACTS, documents, enrolled, fits

pytestmark = pytest.mark.rabbit
CLERK_A, CLERK_B, REVIEWER = 0, 1, 2
DISTRICT_WEST, DISTRICT_EMPTY = 7, 8  # the console fixture's district clerks
REASON = "诊断证明印章不清晰，请重新扫描"


def rows(driver) -> list[dict[str, str]]:
    """The list's rows, each cell by its label (the stacked table's data-label)."""
    return [
        {td.get_attribute("data-label"): td.text for td in tr.find_elements(By.TAG_NAME, "td")}
        for tr in driver.find_elements(By.CSS_SELECTOR, "#claims tbody tr")
    ]


def test_a_clerk_comes_back_to_her_claims_and_sees_each_status_and_the_reason_returned(
    console, browser, shot, rabbit_config
):
    base, unit_a, _ = console
    enrolled(rabbit_config, unit_a)
    member = PEOPLE[4]
    clerk = browser(PHONE)
    sign_in(clerk, base, CLERK_A)
    click(clerk, By.ID, "unit-claims")  # from the clerk's home
    assert clerk.current_url == f"{base}/console/claims?year=2024"
    assert "本年度还没有理赔申请" in clerk.page_source

    click(clerk, By.ID, "new-claim")
    clerk.find_element(By.ID, "claim-name").send_keys(member.name)
    clerk.find_element(By.ID, "claim-id").send_keys(member.id_number)
    Select(clerk.find_element(By.ID, "claim-benefit")).select_by_value("general_illness")
    clerk.find_element(By.ID, "claim-cost").send_keys("20000")
    clerk.execute_script("document.getElementById('claim-admission').value = '2024-02-01'")
    click(clerk, By.ID, "create-claim")
    claim_id = clerk.current_url.rsplit("/", 1)[1]
    assert text(clerk, "status") == "草稿"

    # later: the list, from the claim page's way back
    click(clerk, By.PARTIAL_LINK_TEXT, "本单位理赔申请")
    names = documents()
    (row,) = rows(clerk)
    assert row["职工"] == member.name and row["状态"] == "草稿"
    assert row["缺少材料"] == f"缺 {len(names)} 份" and row["受理日期"] == "未提交"
    assert fits(clerk)
    shot(clerk, "claims-draft")

    with ClusterRpcProxy(rabbit_config) as rpc:  # the documents (their upload: test_browser)
        for i, name in enumerate(names):
            content = base64.b64encode(pdf(str(i))).decode()
            rpc.claims.add_attachment(claim_id, name, f"{i}.pdf", content, "clerk")
    click(clerk, By.LINK_TEXT, member.name)
    click(clerk, By.ID, "submit-claim")
    payable = text(clerk, "payable").removesuffix(" 元")
    clerk.get(f"{base}/console/claims")
    (row,) = rows(clerk)
    assert (row["状态"], row["应付金额（元）"]) == ("已提交待审核", payable)
    assert row["缺少材料"] == "" and row["受理日期"] == "2024-06-01"

    desk = browser()
    sign_in(desk, base, REVIEWER)
    desk.get(f"{base}/console/claims/{claim_id}")
    desk.find_element(By.NAME, "reason").send_keys(REASON)
    click(desk, By.ID, "return")
    assert text(desk, "status") == "已退回"

    clerk.refresh()
    (row,) = rows(clerk)
    assert (row["状态"], row["退回原因"]) == ("已退回", REASON)
    assert row["缺少材料"] == "齐全"  # all there: the reason says what to redo
    assert fits(clerk)
    shot(clerk, "claims-returned")
    click(clerk, By.LINK_TEXT, member.name)
    assert clerk.current_url == f"{base}/console/claims/{claim_id}"

    # another unit's clerk: none of it in her list (nor by naming unit A), the 403 page at
    # the claim's address
    sign_in(clerk, base, CLERK_B)
    for address in ("/console/claims", f"/console/claims?unit={unit_a}"):
        clerk.get(f"{base}{address}")
        assert rows(clerk) == [] and "本年度还没有理赔申请" in clerk.page_source
    assert member.name not in clerk.page_source
    clerk.get(f"{base}/console/claims/{claim_id}")
    assert "无权访问" in clerk.find_element(By.TAG_NAME, "h1").text
    shot(clerk, "claim-forbidden")


def test_a_district_clerk_picks_one_of_their_districts_units_and_sees_its_claims(
    console, browser, shot, rabbit_config
):
    """A district clerk chooses the unit from a list of their district's (enrollment's
    district_units, asked as them), without JavaScript; another district's unit is not
    offered; a clerk whose district enrollment lists no unit for still types the id."""
    base, _, _ = console
    with ClusterRpcProxy(rabbit_config) as rpc:
        units = {
            key: rpc.enrollment.register_unit(
                CITY,
                YEAR,
                {"unit_key": key, "name": name, "district": district, "staff_total": 10},
            )["unit_id"]
            for key, name, district in (
                ("W2", "桥西B医院工会", "桥西区"),
                ("W1", "桥西A中学工会", "桥西区"),
                ("E1", "桥东某厂工会", "桥东区"),
            )
        }
    enrolled(rabbit_config, units["W1"])
    member = PEOPLE[4]
    with ClusterRpcProxy(rabbit_config) as rpc:
        rpc.claims.create_claim(CITY, YEAR, member.id_number, FACTS, "clerk", member.name)

    clerk = browser(PHONE, javascript=False)
    sign_in(clerk, base, DISTRICT_WEST)
    clerk.get(f"{base}/console/claims?year={YEAR}")
    choice = Select(clerk.find_element(By.ID, "unit"))
    assert [(o.get_attribute("value"), o.text) for o in choice.options] == [
        ("", "请选择本区县的单位"),
        (units["W1"], "桥西A中学工会（W1）"),
        (units["W2"], "桥西B医院工会（W2）"),
    ]  # by name; 桥东区's unit is not offered
    assert "请选择单位后查看" in clerk.page_source
    assert clerk.find_element(By.TAG_NAME, "h1").text == f"本区县理赔申请 · {YEAR} 年度"
    shot(clerk, "district-units")

    choice.select_by_value(units["W1"])
    click(clerk, By.ID, "show")
    assert clerk.current_url == f"{base}/console/claims?unit={units['W1']}&year={YEAR}"
    assert text(clerk, "unit-name") == "单位：桥西A中学工会（W1）"
    assert Select(clerk.find_element(By.ID, "unit")).first_selected_option.text.startswith(
        "桥西A中学工会"
    )
    (row,) = rows(clerk)
    assert (row["职工"], row["状态"]) == (member.name, "草稿")
    assert fits(clerk)
    shot(clerk, "district-unit-claims")

    Select(clerk.find_element(By.ID, "unit")).select_by_value(units["W2"])
    click(clerk, By.ID, "show")
    assert rows(clerk) == [] and "本年度还没有理赔申请" in clerk.page_source

    # a district with no unit enrollment knows of: the unit id typed, as before
    sign_in(clerk, base, DISTRICT_EMPTY)
    clerk.get(f"{base}/console/claims?year={YEAR}")
    typed = clerk.find_element(By.ID, "unit")
    assert typed.tag_name == "input" and "请填写单位编号后查看" in clerk.page_source
    typed.send_keys(units["W1"])
    click(clerk, By.ID, "show")
    assert clerk.current_url == f"{base}/console/claims?unit={units['W1']}&year={YEAR}"
    assert rows(clerk) == [] and member.name not in clerk.page_source  # not their district's
    shot(clerk, "district-typed")
