"""claims.notice_details: what notify tells a member about a claim (the latest reason, the
member to ask enrollment about, a union card's last four digits and no more)."""

from __future__ import annotations

from datetime import date

from nameko.testing.services import worker_factory

from services.claims import claims as ops
from services.claims.service import ClaimsService
from tests.claims.flow import new_claim, record
from tests.enrollment.samples import person

WHO = person(3)
FACTS = {
    "benefit": "critical_illness",
    "disease": "恶性肿瘤",
    "total_cost": "120000",
    "admission_date": "2024-03-10",
}


def test_a_returned_claim_gives_its_reason_and_the_member(session, registry, cover):
    cover.enrol("zhangjiakou", 2024, WHO)
    policy = registry.get("zhangjiakou")
    claim = new_claim(session, policy, cover, WHO, dict(FACTS), year=2024, today=date(2024, 6, 1))
    claim.payee_card = "6222020402012345678"
    ops.return_claim(
        session,
        claim_id=claim.id,
        actor="reviewer:li",
        reason="缺少出院小结",
        record=record(session),
    )
    worker = worker_factory(ClaimsService, policies=registry)
    worker.db.session = session

    details = worker.notice_details(claim.id)

    assert details["reason"] == "缺少出院小结"
    assert details["member_id"] == claim.member_id and details["member_id"]
    assert details["card_last4"] == "5678"
    assert "6222020402012345678" not in str(details)
