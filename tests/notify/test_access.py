"""The notify access table (services/notify/access.py) on real RabbitMQ: the help desk reads
what was sent to a number or about a claim of its own city (every city's without one in its
token), another city's help desk reads none of it, other roles are refused; the bus (the
demo, the end-to-end checks) still calls without a person."""

from __future__ import annotations

import eventlet
import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter

from tests.notify.test_service import (
    PHONE,
    approved,
    notify,  # noqa: F401  (a fixture)
)
from tests.tokens import identity_context

pytestmark = pytest.mark.rabbit

ZJK = "zhangjiakou"
DESK = identity_context("help_desk", "孙客服", sub="kf-1", city=ZJK)
PROVINCE = identity_context("help_desk", "省客服", sub="kf-0")
WUJIN = identity_context("help_desk", "吴客服", sub="kf-2", city="wujin")
REVIEWER = identity_context("city_reviewer", "李审", sub="li-1", city=ZJK)
CLERK = identity_context("unit_clerk", "王芳", sub="wf-1", city=ZJK, unit="u-1")


def read(config, context) -> tuple[list, list]:
    with ClusterRpcProxy(config, context_data=context) as rpc:
        return rpc.notify.sent_to(PHONE), rpc.notify.about_claim("c-1")


def refused(config, context, method: str, *args) -> str:
    with ClusterRpcProxy(config, context_data=context) as rpc:
        with pytest.raises(RemoteError) as answer:
            getattr(rpc.notify, method)(*args)
    return answer.value.exc_type


def test_the_help_desk_reads_its_own_citys_messages_and_no_other_role_reads_them(
    notify,  # noqa: F811
):
    container, config, _ = notify
    with entrypoint_waiter(container, "on_claim_approved"):
        event_dispatcher(config)("claims", "claim_approved", approved("ev-9"))
    for _ in range(100):  # recorded; sent or not, it is what the help desk reads
        to_phone, about = read(config, {})
        if to_phone:
            break
        eventlet.sleep(0.05)
    assert [m["template"] for m in to_phone] == [m["template"] for m in about] == ["claim_approved"]
    assert to_phone[0]["phone"] == "138****5678"

    assert read(config, DESK) == (to_phone, about)
    assert read(config, PROVINCE) == (to_phone, about)
    # another city's help desk: nothing sent to the number in its city, the claim not its own
    with ClusterRpcProxy(config, context_data=WUJIN) as rpc:
        assert rpc.notify.sent_to(PHONE) == []
    assert refused(config, WUJIN, "about_claim", "c-1") == "Forbidden"
    # a claim nothing was sent about is no one's data: nothing to read
    with ClusterRpcProxy(config, context_data=WUJIN) as rpc:
        assert rpc.notify.about_claim("c-none") == []
    for person in (REVIEWER, CLERK):
        assert refused(config, person, "sent_to", PHONE) == "Forbidden"
        assert refused(config, person, "about_claim", "c-1") == "Forbidden"
