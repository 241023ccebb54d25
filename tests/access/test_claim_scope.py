"""Claims' scope over HTTP on the running services (issue 9's remaining gaps): a claim keeps
the district of the unit enrollment's cover names, so a district clerk reaches the claims of
their district's units and no others; a clerk cannot create or submit a claim for a member
another unit covers (403, nothing stored).

Two units in two districts, one member enrolled in each (by the bus, as trusted callers);
enrollment and claims in nameko containers on real RabbitMQ, one listener, local tokens.
"""

from __future__ import annotations

import base64

import pytest
import requests
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from services.access.policy import FORBIDDEN
from services.claims.service import ClaimsService
from services.enrollment.service import EnrollmentService
from services.messaging.database import make_engine
from tests.claims.test_service import ZJK_HEADER, config_for, zjk_row
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import person
from tests.tokens import bearer

pytestmark = pytest.mark.rabbit
CITY, YEAR = "zhangjiakou", 2024
EAST, WEST = "桥东区", "桥西区"
FACTS = {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2024-02-01"}


def enrol_one(rpc, key: str, district: str, member) -> str:
    unit = rpc.enrollment.register_unit(
        CITY,
        YEAR,
        {"unit_key": key, "name": f"{key}工会", "district": district, "staff_total": 1},
    )["unit_id"]
    app = rpc.enrollment.open_application(
        CITY, {"unit_id": unit, "year": YEAR, "participants": 1}, "clerk"
    )["application_id"]
    rows = [["名册"], ZJK_HEADER, zjk_row(1, member)]
    data = base64.b64encode(xlsx_bytes({"人员名册": rows})).decode()
    assert rpc.enrollment.import_roster(app, "名册.xlsx", data, "clerk")["errors"] == []
    rpc.enrollment.submit(app, "clerk")
    rpc.enrollment.approve(app, "reviewer")
    return unit


@pytest.fixture
def world(container_factory, rabbit_config, web_config, web_config_port, tmp_path, issuer):
    enrollment_config, claims_config = config_for(
        rabbit_config, tmp_path, "2024-01-10", "2024-06-01"
    )
    for cls, config in (
        (EnrollmentService, {**enrollment_config, **web_config}),
        (ClaimsService, {**claims_config, **web_config}),
    ):
        container_factory(cls, config).start()
    members = {"A": person(1), "B": person(2)}
    with ClusterRpcProxy(claims_config) as rpc:
        units = {
            "A": enrol_one(rpc, "A", EAST, members["A"]),
            "B": enrol_one(rpc, "B", WEST, members["B"]),
        }
    people = {
        "clerk_a": bearer(issuer, name="王芳", sub="wf-1", city=CITY, unit=units["A"]),
        "east": bearer(issuer, role="district_clerk", name="东区", city=CITY, district=EAST),
        "west": bearer(issuer, role="district_clerk", name="西区", city=CITY, district=WEST),
    }
    return f"http://127.0.0.1:{web_config_port}", members, people, tmp_path / "var"


def new_claim(base: str, headers: dict, member, facts: dict = FACTS) -> requests.Response:
    body = {
        "city": CITY,
        "year": YEAR,
        "id_number": member.id_number,
        "name": member.name,
        "facts": facts,
    }
    return requests.post(f"{base}/claims", json=body, headers=headers)


def stored(var, claim_id: str | None = None) -> list[dict]:
    engine = make_engine(f"sqlite:///{var}/claims.sqlite")
    try:
        with engine.connect() as db:
            query = "SELECT id, status, unit_id, district FROM claims"
            rows = db.execute(sa.text(query)).mappings().all()
            changes = db.execute(sa.text("SELECT claim_id FROM claim_transitions")).all()
    finally:
        engine.dispose()
    return [
        {**row, "transitions": sum(1 for (c,) in changes if c == row["id"])}
        for row in rows
        if claim_id in (None, row["id"])
    ]


def test_a_district_clerk_reaches_the_claims_of_their_districts_units_only(world):
    base, members, people, var = world
    made = new_claim(base, people["clerk_a"], members["A"])
    assert made.status_code == 201, made.text
    claim_id = made.json()["claim_id"]
    # cover named the unit at creation: its district is stored beside it
    (row,) = stored(var, claim_id)
    assert row["district"] == EAST and row["unit_id"] is not None

    url = f"{base}/claims/{claim_id}"
    assert requests.get(url, headers=people["east"]).status_code == 200
    refused = requests.get(url, headers=people["west"])
    assert refused.status_code == 403 and refused.json() == {"error": FORBIDDEN}
    # the district clerk works on it as the unit's clerk would (an edit: scope by district)
    patched = requests.patch(url, json={"name": members["A"].name}, headers=people["east"])
    assert patched.status_code == 200, patched.text
    assert requests.patch(url, json={"name": "x"}, headers=people["west"]).status_code == 403

    # and creates one for a member of their district's unit
    by_district = new_claim(base, people["east"], members["A"])
    assert by_district.status_code == 201, by_district.text
    assert stored(var, by_district.json()["claim_id"])[0]["district"] == EAST


def test_a_clerk_cannot_create_a_claim_for_another_units_member(world):
    base, members, people, var = world
    for who in ("clerk_a", "east"):  # unit A's clerk, and the clerk of A's district
        refused = new_claim(base, people[who], members["B"])
        assert refused.status_code == 403, (who, refused.text)
        assert refused.json() == {"error": FORBIDDEN}
    refused = new_claim(base, people["west"], members["A"])
    assert refused.status_code == 403 and refused.json() == {"error": FORBIDDEN}
    assert stored(var) == []  # nothing stored


def test_a_clerk_cannot_submit_a_claim_for_another_units_member(world):
    base, members, people, var = world
    # a draft without the date that counts: cover cannot be asked yet, the draft is its maker's
    undated = {k: v for k, v in FACTS.items() if k != "admission_date"}
    draft = new_claim(base, people["clerk_a"], members["B"], undated)
    assert draft.status_code == 201, draft.text
    claim_id = draft.json()["claim_id"]
    patched = requests.patch(
        f"{base}/claims/{claim_id}", json={"facts": FACTS}, headers=people["clerk_a"]
    )
    assert patched.status_code == 200, patched.text
    before = stored(var, claim_id)

    refused = requests.post(f"{base}/claims/{claim_id}/submit", json={}, headers=people["clerk_a"])

    assert refused.status_code == 403 and refused.json() == {"error": FORBIDDEN}, refused.text
    assert stored(var, claim_id) == before  # still her draft, no unit, no transition
    assert before[0]["status"] == "draft" and before[0]["unit_id"] is None
