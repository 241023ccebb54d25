"""The claims access table (services/claims/access.py) on real RabbitMQ, for a clerk's list of
the unit's claims (unit_claims): a unit clerk lists their own unit's, a district clerk their
district's units', another unit's clerk and another district's are refused or shown nothing;
the bus still calls without a person. For the help desk's look-up by phone (member_claims):
a member's claims to the city's help desk, masked; to no one else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.claims.models import Claim, ClaimTransition
from services.claims.service import ClaimsService
from services.kernel.privacy import mask_id
from services.messaging.database import make_engine, make_session_factory, session_scope
from tests.claims.test_service import config_for
from tests.enrollment.samples import person
from tests.tokens import identity_context

pytestmark = pytest.mark.rabbit

ZJK = "zhangjiakou"
CLERK_A = identity_context("unit_clerk", "王芳", sub="wf-1", city=ZJK, unit="unit-a")
CLERK_B = identity_context("unit_clerk", "赵六", sub="zl-1", city=ZJK, unit="unit-b")
WEST = identity_context("district_clerk", "钱区", sub="qq-1", city=ZJK, district="桥西区")
EAST = identity_context("district_clerk", "孙区", sub="sq-1", city=ZJK, district="桥东区")
WUJIN = identity_context("unit_clerk", "吴经办", sub="wj-1", city="wujin", unit="unit-a")


@pytest.fixture
def claims(container_factory, rabbit_config, tmp_path):
    """The claims service with three submitted claims of unit A (桥西区) and one of unit B."""
    _, config = config_for(rabbit_config, tmp_path, "2024-03-01", "2024-06-10")
    (tmp_path / "var").mkdir(exist_ok=True)
    container_factory(ClaimsService, config).start()
    engine = make_engine(config["DATABASES"]["claims"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            for i, (unit, district) in enumerate(
                [("unit-a", "桥西区")] * 3 + [("unit-b", "桥东区")]
            ):
                who = person(80 + i)
                session.add(
                    Claim(
                        city=ZJK,
                        year=2024,
                        benefit="general_illness",
                        status="submitted",
                        id_number=who.id_number,
                        name=who.name,
                        unit_id=unit,
                        district=district,
                        facts={"benefit": "general_illness"},
                        created_by="王芳 (wf-1)",
                    )
                )
    finally:
        engine.dispose()
    return config


def _listed(config, context, **kwargs) -> list[str]:
    with ClusterRpcProxy(config, context_data=context) as rpc:
        page = rpc.claims.unit_claims(ZJK, 2024, **kwargs)
    return [row["name"] for row in page["claims"]]


def _refused(config, context, **kwargs) -> str:
    with pytest.raises(RemoteError) as refused:
        _listed(config, context, **kwargs)
    return refused.value.exc_type


def test_a_clerk_lists_their_own_units_claims_and_no_one_elses(claims):
    unit_a = {person(80 + i).name for i in range(3)}
    assert set(_listed(claims, CLERK_A, unit_id="unit-a")) == unit_a
    assert _listed(claims, CLERK_B, unit_id="unit-b") == [person(83).name]
    # another unit's clerk, another city's clerk of a unit of the same name: refused
    assert _refused(claims, CLERK_B, unit_id="unit-a") == "Forbidden"
    assert _refused(claims, WUJIN, unit_id="unit-a") == "Forbidden"
    # a district clerk: any unit of their district, naming it; not naming it is refused
    assert set(_listed(claims, WEST, unit_id="unit-a", district="桥西区")) == unit_a
    assert _refused(claims, WEST, unit_id="unit-a") == "Forbidden"
    assert _refused(claims, EAST, unit_id="unit-a", district="桥西区") == "Forbidden"
    # naming their own district with another district's unit shows none of it
    assert _listed(claims, EAST, unit_id="unit-a", district="桥东区") == []
    # pages of two from the service: the first two, then the last with no next page
    with ClusterRpcProxy(claims, context_data=CLERK_A) as rpc:
        first = rpc.claims.unit_claims(ZJK, 2024, "unit-a", limit=2)
        second = rpc.claims.unit_claims(ZJK, 2024, "unit-a", limit=2, offset=first["next_offset"])
        with pytest.raises(RemoteError) as bad:
            rpc.claims.unit_claims(ZJK, 2024, "unit-a", limit=0)
    assert (len(first["claims"]), first["next_offset"]) == (2, 2)
    assert (len(second["claims"]), second["next_offset"]) == (1, None)
    assert {r["name"] for r in first["claims"] + second["claims"]} == unit_a
    assert bad.value.exc_type == "InvalidRequest" and "limit" in str(bad.value)
    with ClusterRpcProxy(claims) as bus:  # the bus: trusted, as for every entrypoint
        assert len(bus.claims.unit_claims(ZJK, 2024, "unit-b")["claims"]) == 1


DESK = identity_context("help_desk", "孙客服", sub="kf-1", city=ZJK)
WUJIN_DESK = identity_context("help_desk", "吴客服", sub="kf-2", city="wujin")


def test_the_help_desk_reads_a_members_claims_newest_first_masked(claims):
    """member_claims: the claims cover tied to the member, and their draft cover has not been
    asked for yet (found by the ID number the others carry); another member's are not."""
    who, other = person(80), person(81)
    engine = make_engine(claims["DATABASES"]["claims"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            for claim in session.query(Claim).all():
                claim.member_id = {who.name: "member-80", other.name: "member-81"}.get(claim.name)
            draft = Claim(
                city=ZJK,
                year=2024,
                benefit="general_illness",
                status="draft",
                id_number=who.id_number,
                name=who.name,
                facts={"benefit": "general_illness"},
                created_by="王芳 (wf-1)",
                created_at=datetime(2030, 1, 1, tzinfo=UTC),  # the newest
            )
            session.add(draft)
            session.flush()
            session.add(
                ClaimTransition(
                    claim_id=draft.id, to_status="draft", actor="王芳", reason="新建申请"
                )
            )
            draft_id = draft.id
    finally:
        engine.dispose()
    with ClusterRpcProxy(claims, context_data=DESK) as rpc:
        found = rpc.claims.member_claims(ZJK, ["member-80"])
        assert rpc.claims.member_claims(ZJK, ["nobody"]) == []
    assert [(c["claim_id"], c["status"]) for c in found][0] == (draft_id, "draft")
    assert [c["status"] for c in found] == ["draft", "submitted"]
    assert {c["name"] for c in found} == {who.name}
    assert {c["id_number"] for c in found} == {mask_id(who.id_number)}
    assert who.id_number not in str(found)
    assert found[0]["history"][0]["reason"] == "新建申请"
    # another city's help desk, a unit clerk of the member's own unit: refused
    for context in (WUJIN_DESK, CLERK_A):
        with ClusterRpcProxy(claims, context_data=context) as rpc, pytest.raises(RemoteError) as no:
            rpc.claims.member_claims(ZJK, ["member-80"])
        assert no.value.exc_type == "Forbidden"
    with ClusterRpcProxy(claims, context_data=DESK) as rpc, pytest.raises(RemoteError) as bad:
        rpc.claims.member_claims(ZJK, [])
    assert bad.value.exc_type == "InvalidRequest"
