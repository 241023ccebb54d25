"""Issue 8.5 for claims: anything a caller sends through an entrypoint is refused with one
Chinese line naming the field (InvalidRequest over RPC, 422 over HTTP) and nothing is stored,
the same on SQLite and PostgreSQL (where these inputs used to be a 500).

The service class runs under nameko's ``worker_factory`` on the ``session`` fixture's
database (both backends); HTTP handlers get a werkzeug request, as nameko hands them one.
"""

from __future__ import annotations

import base64
import functools
import re
from datetime import date

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select

from services.access.guard import Caller
from services.claims.exceptions import NotFound, WorkflowError
from services.claims.models import Attachment, Claim, ClaimTransition
from services.claims.schemas import InvalidRequest
from services.claims.service import ClaimsService
from services.kernel.errors import FactError
from services.messaging.outbox import record_event
from tests import edge
from tests.claims.flow import PDF, PNG, pdf
from tests.edge import request as http
from tests.enrollment.samples import person

WHO = person(1)
FACTS = {
    "benefit": "critical_illness",
    "disease": "恶性肿瘤",
    "total_cost": "120000",
    "admission_date": "2024-03-10",
}
ENGLISH = re.compile(r"Not a valid|Length must|Missing data|Unknown field|Must be|Field may")


@pytest.fixture
def service(session, registry, cover):
    cover.enrol("zhangjiakou", 2024, WHO)
    worker = worker_factory(
        ClaimsService,
        policies=registry,
        today=lambda: date(2024, 6, 1),
        access=Caller(None),  # a caller on the bus: the actor it states is recorded
    )
    worker.db.session = session
    worker.outbox.record = functools.partial(record_event, session)
    worker.enrollment.cover = lambda city, number, day: cover(city, number, date.fromisoformat(day))
    return worker


def answer(call) -> tuple[int, dict]:
    return edge.answer(ClaimsService, call)


def draft(service) -> dict:
    return service.create_claim("zhangjiakou", 2024, WHO.id_number, dict(FACTS), "clerk", WHO.name)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def refused(call, field: str, error=InvalidRequest) -> str:
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    assert field in message
    assert not ENGLISH.search(message), message
    assert re.search(r"[\u4e00-\u9fff]", message), message
    return message


# ---- RPC ---------------------------------------------------------------------------------------


def test_a_200_character_actor_is_refused_and_nothing_stored(service, session):
    refused(
        lambda: service.create_claim(
            "zhangjiakou", 2024, WHO.id_number, dict(FACTS), "经办人" * 67, WHO.name
        ),
        "actor",
    )
    assert count(session, Claim) == 0


@pytest.mark.parametrize(
    ("filename", "why"),
    [("出院\x00小结.pdf", "控制字符"), ("长" * 5000 + ".pdf", "最多 255 个字符")],
)
def test_a_filename_with_nul_or_5000_characters_is_refused(service, session, filename, why):
    claim_id = draft(service)["claim_id"]
    content = base64.b64encode(PDF).decode()
    message = refused(
        lambda: service.add_attachment(claim_id, "诊断证明", filename, content, "clerk"),
        "filename",
    )
    assert why in message
    assert count(session, Attachment) == 0


@pytest.mark.parametrize(
    ("fact", "value", "why"),
    [
        ("settled_amount", "1e400", "普通的小数写法"),
        ("total_cost", "9999999999999.99", "不能超过 99999999.99"),
        ("total_cost", "NaN", "普通的小数写法"),
        ("total_cost", "Infinity", "普通的小数写法"),
        ("total_cost", "-Infinity", "普通的小数写法"),
        ("total_cost", 120000.0, "小数字符串"),
        ("total_cost", "120000.005", "最多 2 位小数"),
        ("admission_date", "2024-13-40", "应为日期"),
    ],
)
def test_an_amount_or_date_no_form_holds_is_refused_naming_the_fact(
    service, session, fact, value, why
):
    facts = {**FACTS, fact: value}
    message = refused(
        lambda: service.create_claim("zhangjiakou", 2024, WHO.id_number, facts, "clerk"),
        fact,
        error=FactError,
    )
    assert why in message
    assert count(session, Claim) == 0


def test_a_benefit_longer_than_its_column_is_refused(service, session):
    facts = {**FACTS, "benefit": "b" * 61}
    refused(
        lambda: service.create_claim("zhangjiakou", 2024, WHO.id_number, facts, "clerk"),
        "benefit",
    )
    assert count(session, Claim) == 0


def test_review_arguments_are_checked(service, session):
    claim_id = draft(service)["claim_id"]
    refused(lambda: service.return_claim(claim_id, "审核员", "原因\x00"), "reason")
    refused(lambda: service.approve(claim_id, "r" * 101), "actor")
    refused(lambda: service.list_claims("zhangjiakou", "2024"), "year")
    refused(lambda: service.unit_claims("zhangjiakou", 2024, "u" * 37), "unit_id")
    refused(lambda: service.unit_claims("zhangjiakou", 2024, "unit-a", offset=-1), "offset")
    refused(lambda: service.claim("x" * 37), "claim_id")
    assert service.claim(claim_id)["status"] == "draft"


# ---- HTTP --------------------------------------------------------------------------------------


def test_not_applicable_that_is_not_an_object_answers_422(service, session):
    claim_id = draft(service)["claim_id"]
    status, body = answer(
        lambda: service.http_submit(http("POST", {"not_applicable": "x"}), claim_id)
    )
    assert status == 422
    assert "not_applicable" in body["error"] and "应为对象" in body["error"]
    assert service.claim(claim_id)["status"] == "draft"
    assert count(session, ClaimTransition) == 1  # only its creation


def test_a_new_claim_body_is_refused_in_chinese_naming_each_field(service, session):
    body = {"city": "zhangjiakou", "year": "2024", "id_number": "123", "facts": {}, "nme": "x"}
    status, answered = answer(lambda: service.http_create(http("POST", body)))
    assert status == 422
    message = answered["error"]
    for field in ("year", "id_number", "nme"):
        assert field in message
    assert "应为整数" in message and "至少 15 个字符" in message and "不认识的字段" in message
    assert not ENGLISH.search(message), message
    assert count(session, Claim) == 0


def test_an_attachment_upload_with_a_nul_in_its_filename_answers_422(service, session):
    claim_id = draft(service)["claim_id"]
    request = http("POST", query={"document": "诊断证明", "filename": "a\x00.png"}, data=PNG)
    status, body = answer(lambda: service.http_attach(request, claim_id))
    assert status == 422 and "filename" in body["error"]
    assert count(session, Attachment) == 0


def test_a_200_character_actor_from_the_edge_answers_422(service, session):
    claim_id = draft(service)["claim_id"]
    status, body = answer(lambda: service.http_submit(http("POST", {}, actor="a" * 200), claim_id))
    assert status == 422 and "actor" in body["error"]
    assert service.claim(claim_id)["status"] == "draft"


# ---- corrections (issue 8.12): the create's checks, only while draft or returned ----------------


def test_corrections_are_checked_as_a_new_claim_is(service, session):
    claim_id = draft(service)["claim_id"]
    refused(lambda: service.update_claim(claim_id, {"name": "名" * 61}, "clerk"), "name")
    refused(
        lambda: service.update_claim(claim_id, {"payee_card": "62220000"}, "clerk"), "payee_card"
    )
    refused(
        lambda: service.update_claim(claim_id, {"facts": {**FACTS, "total_cost": "NaN"}}, "clerk"),
        "total_cost",
        error=FactError,
    )
    refused(lambda: service.update_claim(claim_id, "x", "clerk"), "changes")
    assert service.claim(claim_id)["facts"]["total_cost"] == "120000"
    assert count(session, ClaimTransition) == 1

    changed = service.update_claim(claim_id, {"name": WHO.name, "reason": "补填姓名"}, "clerk")
    assert changed["name"] == WHO.name
    assert service.claim(claim_id)["history"][-1]["reason"] == "修改姓名：补填姓名"


def test_an_attachment_is_removed_only_from_its_own_claim(service, session):
    mine, other = draft(service)["claim_id"], draft(service)["claim_id"]
    added = service.add_attachment(
        mine, "诊断证明", "a.pdf", base64.b64encode(PDF).decode(), "clerk"
    )
    with pytest.raises(NotFound):
        service.remove_attachment(other, added["attachment_id"], "clerk")
    refused(lambda: service.remove_attachment(mine, added["attachment_id"], "c" * 101), "actor")
    assert count(session, Attachment) == 1
    left = service.remove_attachment(mine, added["attachment_id"], "clerk")
    assert left == {"claim_id": mine, "attachments": []}


def test_a_submitted_claim_cannot_be_corrected(service, session, zhangjiakou):
    claim_id = draft(service)["claim_id"]
    for i, document in enumerate(
        next(b for b in zhangjiakou.benefits(2024) if b.code == "critical_illness").attachments
    ):
        content = base64.b64encode(pdf(str(i))).decode()
        service.add_attachment(claim_id, document, f"{i}.pdf", content, "clerk")
    assert service.submit(claim_id, "clerk")["status"] == "submitted"
    attachment_id = service.claim(claim_id)["attachments"][0]["attachment_id"]
    with pytest.raises(WorkflowError):
        service.update_claim(claim_id, {"name": WHO.name}, "clerk")
    with pytest.raises(WorkflowError):
        service.remove_attachment(claim_id, attachment_id, "clerk")
    status, body = answer(lambda: service.http_update(http("PATCH", {"name": WHO.name}), claim_id))
    assert status == 422 and "已提交待审核" in body["error"]


def test_a_settlement_record_of_1e400_is_a_row_error_not_a_500(service, session, cover):
    cover.enrol("quzhou", 2025, WHO)
    record = {
        "settlement_no": "R-1",
        "id_number": WHO.id_number,
        "admission_date": "2025-05-01",
        "settled_amount": "1e400",
    }
    answer = service.import_settlements("quzhou", 2025, "agency", records=[record])
    assert [(e["row"], e["reason"]) for e in answer["errors"]] == [
        (1, "1e400 超过 99999999.99 元，不是一次住院的金额")
    ]
    assert count(session, Claim) == 0


def test_the_review_queue_rpc_pages_with_limit_and_offset(service, session, zhangjiakou):
    """Issue 14: `review_queue` takes the page it is asked for (the SQL paging in queues.py),
    and a limit or offset no page can have is refused naming it."""
    documents = next(
        b for b in zhangjiakou.benefits(2024) if b.code == "critical_illness"
    ).attachments
    submitted = []
    for _ in range(3):
        claim_id = draft(service)["claim_id"]
        for i, document in enumerate(documents):
            content = base64.b64encode(pdf(f"{claim_id}{i}")).decode()
            service.add_attachment(claim_id, document, f"{i}.pdf", content, "clerk")
        service.submit(claim_id, "clerk")
        submitted.append(claim_id)

    def page(**kwargs) -> list[str]:
        queue = service.review_queue("zhangjiakou", **kwargs)
        return [r["claim_id"] for k in ("overdue", "due_soon", "later") for r in queue[k]]

    whole = page()
    assert sorted(whole) == sorted(submitted)
    assert page(limit=2) == whole[:2]
    assert page(limit=2, offset=2) == whole[2:]
    assert page(offset=3) == []
    refused(lambda: service.review_queue("zhangjiakou", limit=0), "limit")
    refused(lambda: service.review_queue("zhangjiakou", limit=1001), "limit")
    refused(lambda: service.review_queue("zhangjiakou", limit="2"), "limit")
    refused(lambda: service.review_queue("zhangjiakou", offset=-1), "offset")
