"""Four eyes on claims (issue 9): nobody approves what they submitted, compared by the
token's subject; the rule in the domain, without nameko."""

from __future__ import annotations

from datetime import date

import pytest

from services.claims import claims as ops
from services.claims import rules
from services.claims.exceptions import WorkflowError
from tests.claims.flow import new_claim, record
from tests.enrollment.samples import person

ZJK_DAY = date(2024, 6, 3)
MEMBER = person(1)


def test_the_rule_compares_subjects():
    with pytest.raises(WorkflowError, match="不能审核自己提交的申请"):
        rules.require_four_eyes("王芳 (s1)", "王芳 (s1)")
    rules.require_four_eyes("王芳 (s1)", "王芳 (s2)")


def test_a_claim_approved_by_its_submitter_is_refused(session, zhangjiakou, cover):
    cover.enrol("zhangjiakou", 2024, MEMBER)
    facts = {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-03-01"}
    claim = new_claim(session, zhangjiakou, cover, MEMBER, facts, year=2024, today=ZJK_DAY)
    submitter = claim.submitted_by
    assert submitter == "clerk:wang"  # as tests/claims/flow.py submits it
    with pytest.raises(WorkflowError, match="不能审核自己提交的申请"):
        ops.approve(
            session,
            zhangjiakou,
            claim_id=claim.id,
            actor=submitter,
            today=ZJK_DAY,
            record=record(session),
        )
    assert claim.status == "submitted"
    approved = ops.approve(
        session,
        zhangjiakou,
        claim_id=claim.id,
        actor="reviewer:li",
        today=ZJK_DAY,
        record=record(session),
    )
    assert approved.status == "approved"
