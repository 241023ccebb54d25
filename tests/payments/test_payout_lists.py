"""The finance desk's payout lists: a city's payouts by state, newest first and one page at a
time, cards masked; the failed and returned ones with the normalised reason beside the bank's
own code and text."""

from __future__ import annotations

import pytest

from services.payments import payout_lists
from services.payments.exceptions import PaymentsError
from tests.payments.samples import DORMANT, final_payouts

ACCOUNT = "0412041229300124836"


@pytest.fixture
def made(session, record):
    made = final_payouts(session, record, account=ACCOUNT)
    final_payouts(session, record, account="999900001111", city="wujin")  # another city's
    return made


def test_payouts_are_listed_by_state_newest_first_with_masked_cards(session, made):
    every = payout_lists.by_state(session, "zhangjiakou")
    failed = payout_lists.by_state(session, "zhangjiakou", "failed")

    assert every["total"] == 3 and len(every["items"]) == 3
    assert [i["payout_id"] for i in every["items"]] == [
        made[s].id for s in ("returned", "failed", "succeeded")
    ]
    assert every["counts"] == {
        "created": 0,
        "submitted": 0,
        "processing": 0,
        "succeeded": 1,
        "failed": 1,
        "returned": 1,
    }
    assert [i["payout_id"] for i in failed["items"]] == [made["failed"].id]
    card = failed["items"][0]["card"]
    assert made["failed"].card_number not in str(every) and card.endswith("02")
    assert "*" in card and failed["items"][0]["amount"] == "200.00"


def test_pages_are_cut_in_sql(session, made):
    first = payout_lists.by_state(session, "zhangjiakou", limit=2)
    second = payout_lists.by_state(session, "zhangjiakou", limit=2, offset=2)

    assert (len(first["items"]), len(second["items"]), second["total"]) == (2, 1, 3)
    assert {i["payout_id"] for i in first["items"] + second["items"]} == {
        p.id for p in made.values()
    }


def test_failed_and_returned_payouts_show_the_reason_beside_the_banks_words(session, made):
    failed = payout_lists.failed(session, "zhangjiakou")

    shown = {
        i["payout_id"]: (i["failure_label"], i["bank_code"], i["bank_message"])
        for i in failed["items"]
    }
    assert shown == {
        made["failed"].id: ("账户冻结或久悬", *DORMANT),
        made["returned"].id: ("账户已销户", "R07", "收款账户已销户"),
    }
    assert all(i["advice"] and i["finished_at"] for i in failed["items"])


@pytest.mark.parametrize(
    "kwargs, words",
    [({"status": "lost"}, "没有支付状态"), ({"limit": 0}, "每页"), ({"offset": -1}, "起始")],
)
def test_a_bad_filter_or_page_is_named(session, kwargs, words):
    with pytest.raises(PaymentsError, match=words):
        payout_lists.by_state(session, "zhangjiakou", **kwargs)
