"""Which of a service's errors a console page shows (services/console/refusals.py), without
nameko's bus: the lists hold to what each service declares expected, a finance refusal is
answered on the held list with what was typed kept, and anything else a service raised goes
to the generic page with the request id and none of its text."""

from __future__ import annotations

from unittest.mock import Mock

import pytest
from nameko.exceptions import RemoteError
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder

import services.claims.service
import services.enrollment.service
import services.notify.service
import services.payments.service
from services.access.identity import Identity
from services.console import refusals
from services.console.service import ConsoleService
from services.messaging.http_listener import GENERIC_ERROR

FINANCE = Identity(sub="qc-1", name="钱财", role="finance", city="zhangjiakou")
SECRET = "(psycopg.errors.UniqueViolation) Key (id_number)=(110101199003077777)"
HELD = {
    "receipt_id": "r-1",
    "occurred_at": "2024-03-02T01:30:00+00:00",
    "amount": "500.00",
    "currency": "CNY",
    "payer_name": "某某商贸公司",
    "reference": "货款",
    "hold_reason": "unknown_reference",
    "hold_label": "附言中找不到缴费码或缴费通知的附言",
    "hold_detail": None,
    "pending_refund": None,
}


def declared(module, *packages: str) -> set[str]:
    """The class names of a service's `EXPECTED` families (its own and the kernel's)."""
    found, todo = set(), list(module.EXPECTED)
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith(packages):
            found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize(
    ("module", "listed"),
    [
        (services.enrollment.service, refusals.ENROLLMENT),
        (services.claims.service, refusals.CLAIMS),
        (services.payments.service, refusals.PAYMENTS),
        (services.notify.service, refusals.NOTIFY),
    ],
)
def test_the_console_shows_exactly_what_each_service_declares_expected(module, listed):
    own = module.__name__.rsplit(".", 1)[0]
    assert declared(module, own, "services.kernel") - {"NotFound"} == set(listed)


class Signed:
    """The session of a signed-in person, as the frame uses it (sessions.Session)."""

    def __init__(self, identity: Identity):
        self.identity, self.csrf, self.new_csrf = identity, "t" * 43, False
        self.request_id = "req-0123456789"

    def load(self, request):
        return self.identity

    def require(self, request):
        return self.identity

    def check_csrf(self, request):
        pass


def console(payments: Mock):
    return worker_factory(ConsoleService, sessions=Signed(FINANCE), payments=payments)


def post(path: str, form: dict):
    return EnvironBuilder(path=path, method="POST", data=form).get_request()


def test_a_refused_resolution_is_answered_on_the_held_list_with_what_was_typed():
    payments = Mock()
    payments.held.return_value = [dict(HELD)]
    payments.resolve_apply.side_effect = RemoteError(
        "DeskError", "没有缴费码为 ZZ9999 的缴费通知，请核对"
    )
    service = console(payments)
    form = {"invoice_code": "zz9999", "reason": "单位来电：汇错了编号"}

    answer = service.resolve(post("/console/finance/held/r-1/apply", form), "r-1")

    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "挂账款项" in page
    assert 'id="refused">未能完成：没有缴费码为 ZZ9999 的缴费通知，请核对<' in page
    assert 'value="zz9999"' in page and 'value="单位来电：汇错了编号"' in page
    assert '<tr id="held-0" class="refused">' in page


def test_a_services_own_fault_is_the_generic_page_with_the_request_id_and_none_of_its_text():
    payments = Mock()
    payments.held.return_value = [dict(HELD)]
    payments.propose_refund.side_effect = RemoteError("IntegrityError", SECRET)
    service = console(payments)

    answer = service.propose_refund(
        post("/console/finance/held/r-1/refund", {"reason": "误汇"}), "r-1"
    )

    page = answer.get_data(as_text=True)
    assert answer.status_code == 500
    assert GENERIC_ERROR in page and 'id="request-id">req-0123456789<' in page
    assert "110101199003077777" not in page and "UniqueViolation" not in page


def test_not_theirs_is_the_403_page_not_a_refusal():
    payments = Mock()
    payments.approve_refund.side_effect = RemoteError("Forbidden", "无权访问，或没有这项记录")
    service = console(payments)

    answer = service.decide_refund(
        post("/console/finance/refunds/x/decide", {"action": "approve"}), "x"
    )

    assert answer.status_code == 403 and "挂账款项" not in answer.get_data(as_text=True)
