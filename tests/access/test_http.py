"""Access control over HTTP on the running services (issue 9's done-when): enrollment and
claims in nameko containers on real RabbitMQ, one listener, tokens from the local issuer.

A unit clerk (王芳) does the whole autumn and a claim with her token and is the stored actor;
each refusal the issue names answers 401 or 403 with one JSON line; every route but the
signed ones refuses a caller without a token.
"""

from __future__ import annotations

import base64
import json
import re
import time

import jwt
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from services.access.policy import FORBIDDEN
from services.access.reads import reads_of
from services.claims.service import ClaimsService
from services.enrollment.service import EnrollmentService
from services.kernel.registry import load_registry
from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.web import HttpEntrypoint
from tests.claims.flow import pdf
from tests.claims.test_service import ZJK_HEADER, config_for, zjk_row
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import bad_check_digit, person
from tests.tokens import bearer

pytestmark = pytest.mark.rabbit
CITY, YEAR = "zhangjiakou", 2024
PEOPLE = [person(i) for i in range(10)]


def roster_bytes(people, broken: bool = False) -> bytes:
    rows = [["名册"], ZJK_HEADER] + [zjk_row(i, p) for i, p in enumerate(people, start=1)]
    if broken:
        rows[4][3] = bad_check_digit(people[2].id_number)
    return xlsx_bytes({"人员名册": rows})


@pytest.fixture
def running(container_factory, rabbit_config, web_config, web_config_port, tmp_path, issuer):
    enrollment_config, claims_config = config_for(
        rabbit_config, tmp_path, "2024-03-01", "2024-06-01"
    )
    enrollment_config = {**enrollment_config, **web_config}
    claims_config = {**claims_config, **web_config}
    containers = [
        container_factory(EnrollmentService, enrollment_config),
        container_factory(ClaimsService, claims_config),
    ]
    for container in containers:
        container.start()
    with ClusterRpcProxy(claims_config) as rpc:
        units = [
            rpc.enrollment.register_unit(
                CITY,
                YEAR,
                {"unit_key": key, "name": f"{key}工会", "staff_total": 10, "staff_insured": 10},
            )["unit_id"]
            for key in ("A", "B")
        ]
    return f"http://127.0.0.1:{web_config_port}", units, containers


def session(headers: dict) -> requests.Session:
    web = requests.Session()
    web.headers.update(headers)
    return web


def one_json_line(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert "\n" not in response.text.strip()
    return json.loads(response.text)


def reads(database, record_id: str) -> list[dict]:
    engine = make_engine(f"sqlite:///{database}")
    try:
        with session_scope(make_session_factory(engine)) as session:
            return reads_of(session, record_id)
    finally:
        engine.dispose()


def test_a_clerk_does_the_autumn_and_a_claim_and_each_refusal_is_shown(running, issuer, tmp_path):
    base, (unit_a, unit_b), _ = running
    clerk = session(
        bearer(issuer, role="unit_clerk", name="王芳", sub="wf-1", city=CITY, unit=unit_a)
    )
    clerk_b = session(
        bearer(issuer, role="unit_clerk", name="赵六", sub="zl-1", city=CITY, unit=unit_b)
    )
    reviewer = session(bearer(issuer, role="city_reviewer", name="李审", sub="li-1", city=CITY))
    # the same person as the clerk, holding a reviewer's token too: four eyes still refuse
    wang_reviewing = session(
        bearer(issuer, role="city_reviewer", name="王芳", sub="wf-1", city=CITY)
    )
    wujin_reviewer = session(
        bearer(issuer, role="city_reviewer", name="钱审", sub="qs-1", city="wujin")
    )
    help_desk = session(bearer(issuer, role="help_desk", name="孙客服", sub="sk-1"))

    # -- the autumn: open, a roster with an error (report), the good roster, submit ----------
    opened = clerk.post(
        f"{base}/enrollment/applications",
        json={"city": CITY, "unit_id": unit_a, "year": YEAR, "participants": len(PEOPLE)},
    )
    assert opened.status_code == 201, opened.text
    app_id = opened.json()["application_id"]
    stolen = clerk_b.post(
        f"{base}/enrollment/applications",
        json={"city": CITY, "unit_id": unit_a, "year": YEAR, "participants": 1},
    )
    assert one_json_line(stolen, 403) == {"error": FORBIDDEN}
    roster_url = f"{base}/enrollment/applications/{app_id}/roster"
    failed = clerk.post(
        roster_url, params={"filename": "名册.xlsx"}, data=roster_bytes(PEOPLE, True)
    )
    assert failed.status_code == 422
    report = f"{base}{failed.json()['report']}"
    assert clerk.get(report).content[:2] == b"PK"
    # unit B's clerk: A's roster, report and application answer as a thing that is not there
    assert one_json_line(clerk_b.get(report), 403) == {"error": FORBIDDEN}
    assert one_json_line(clerk_b.get(f"{base}/enrollment/uploads/nothing/report"), 403) == {
        "error": FORBIDDEN
    }
    assert one_json_line(clerk_b.post(roster_url, data=roster_bytes(PEOPLE)), 403)
    assert clerk_b.get(roster_url).status_code == 403
    assert clerk_b.get(f"{base}/enrollment/applications/{app_id}").status_code == 403
    imported = clerk.post(roster_url, params={"filename": "名册.xlsx"}, data=roster_bytes(PEOPLE))
    assert imported.status_code == 200 and imported.json()["imported"] == len(PEOPLE)
    listed = help_desk.get(roster_url).json()  # help desk reads, masked
    assert PEOPLE[0].id_number not in json.dumps(listed, ensure_ascii=False)
    submitted = clerk.post(f"{base}/enrollment/applications/{app_id}/submit")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"

    # -- review: a clerk may not, another city's reviewer may not, the submitter may not -----
    approve = f"{base}/enrollment/applications/{app_id}/approve"
    assert one_json_line(clerk.post(approve), 403) == {"error": FORBIDDEN}
    assert one_json_line(wujin_reviewer.post(approve), 403) == {"error": FORBIDDEN}
    assert "不能审核自己上报的申请" in one_json_line(wang_reviewing.post(approve), 422)["error"]
    approved = reviewer.post(approve)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    history = clerk.get(f"{base}/enrollment/applications/{app_id}").json()["history"]
    actors = {h["to"]: h["actor"] for h in history}
    assert actors["submitted"] == "王芳 (wf-1)" and actors["approved"] == "李审 (li-1)"
    assert all(h["actor"] != "clerk" for h in history)

    # unit B's clerk learns that A's member is enrolled elsewhere, not where
    opened_b = clerk_b.post(
        f"{base}/enrollment/applications",
        json={"city": CITY, "unit_id": unit_b, "year": YEAR, "participants": 1},
    )
    assert opened_b.status_code == 201, opened_b.text
    taken = clerk_b.post(
        f"{base}/enrollment/applications/{opened_b.json()['application_id']}/roster",
        data=roster_bytes(PEOPLE[:1]),
    )
    assert taken.status_code == 422
    assert "已在其他单位报名参保" in taken.text and "A工会" not in taken.text

    # -- a claim with her token ----------------------------------------------------------------
    member = PEOPLE[3]
    facts = {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2024-02-01"}
    created = clerk.post(
        f"{base}/claims",
        json={
            "city": CITY,
            "year": YEAR,
            "id_number": member.id_number,
            "name": member.name,
            "facts": facts,
        },
    )
    assert created.status_code == 201, created.text
    claim_id = created.json()["claim_id"]
    assert clerk_b.get(f"{base}/claims/{claim_id}").status_code == 403  # a draft: its maker's
    benefit = next(
        b for b in load_registry().get(CITY).benefits(YEAR) if b.code == "general_illness"
    )
    for i, document in enumerate(benefit.attachments):
        attached = clerk.post(
            f"{base}/claims/{claim_id}/attachments",
            params={"document": document, "filename": f"{i}.pdf"},
            data=pdf(str(i)),
        )
        assert attached.status_code == 201, attached.text
    assert clerk.post(f"{base}/claims/{claim_id}/submit", json={}).json()["status"] == "submitted"
    assert one_json_line(clerk_b.get(f"{base}/claims/{claim_id}"), 403) == {"error": FORBIDDEN}
    assert one_json_line(clerk_b.get(f"{base}/claims/no-such-claim"), 403) == {"error": FORBIDDEN}
    claim_approve = f"{base}/claims/{claim_id}/approve"
    assert one_json_line(wujin_reviewer.post(claim_approve, json={}), 403)
    assert (
        "不能审核自己提交的申请"
        in one_json_line(wang_reviewing.post(claim_approve, json={}), 422)["error"]
    )
    # the member's ID: masked to the clerk, in full to the reviewer reading the one claim
    assert clerk.get(f"{base}/claims/{claim_id}").json()["id_number"] != member.id_number
    assert reviewer.get(f"{base}/claims/{claim_id}").json()["id_number"] == member.id_number
    # each full read is in the claims service's access log: who, what, when, why
    (logged,) = reads(tmp_path / "var" / "claims.sqlite", claim_id)
    assert (logged["actor"], logged["role"], logged["entrypoint"]) == (
        "李审 (li-1)",
        "city_reviewer",
        "claims.http_claim",
    )
    assert logged["why"] and logged["at"]
    (report_read,) = reads(tmp_path / "var" / "enrollment.sqlite", report.rsplit("/", 2)[-2])
    assert report_read["actor"] == "王芳 (wf-1)"  # her own report: still logged, in enrollment
    assert reviewer.post(claim_approve, json={}).json()["status"] == "approved"
    history = reviewer.get(f"{base}/claims/{claim_id}").json()["history"]
    assert [h["actor"] for h in history if h["to"] in ("draft", "submitted")] == [
        "王芳 (wf-1)",
        "王芳 (wf-1)",
    ]
    assert history[-1]["actor"] == "李审 (li-1)"


def _token_claims(issuer) -> tuple[dict, bytes, str]:
    key = (issuer.folder / "signing-key.pem").read_bytes()
    kid = issuer.jwks()["keys"][0]["kid"]
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "aud": "mutual-aid",
        "sub": "wf-1",
        "name": "王芳",
        "role": "city_reviewer",
        "city": CITY,
        "iat": now,
        "exp": now + 600,
    }
    return claims, key, kid


def _b64(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_each_bad_token_is_refused_with_401_and_one_json_line(running, issuer):
    import hashlib
    import hmac

    base, _, _ = running
    claims, key, kid = _token_claims(issuer)

    def signed(**changes) -> str:
        return jwt.encode({**claims, **changes}, key, algorithm="ES256", headers={"kid": kid})

    good = signed()
    head, payload, signature = good.split(".")
    tampered = ".".join((head, _b64({**claims, "city": "wujin"}), signature))
    unsigned = f"{_b64({'alg': 'none', 'kid': kid})}.{_b64(claims)}."
    public_pem = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(issuer.jwks()["keys"][0]))
    from cryptography.hazmat.primitives import serialization

    pem = public_pem.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_input = f"{_b64({'alg': 'HS256', 'kid': kid})}.{_b64(claims)}"
    hs256 = f"{hs_input}.{_b64(hmac.new(pem, hs_input.encode(), hashlib.sha256).digest())}"
    url = f"{base}/enrollment/applications?city={CITY}&year={YEAR}"
    cases = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {good}"},
        "expired": {"Authorization": f"Bearer {signed(exp=int(time.time()) - 3600)}"},
        "wrong issuer": {"Authorization": f"Bearer {signed(iss='https://elsewhere/realms/x')}"},
        "wrong audience": {"Authorization": f"Bearer {signed(aud='another-app')}"},
        "tampered": {"Authorization": f"Bearer {tampered}"},
        "alg none": {"Authorization": f"Bearer {unsigned}"},
        "HS256 with the public key": {"Authorization": f"Bearer {hs256}"},
    }
    answers = {name: requests.get(url, headers=headers) for name, headers in cases.items()}
    for name, answer in answers.items():
        body = one_json_line(answer, 401)
        assert set(body) == {"error"} and body["error"], name
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_every_route_but_the_signed_ones_refuses_a_caller_without_a_token(running):
    base, _, containers = running
    routes = [
        entrypoint
        for container in containers
        for entrypoint in container.entrypoints
        if isinstance(entrypoint, HttpEntrypoint)
    ]
    assert len(routes) >= 15
    assert all(e.auth for e in routes)  # enrollment and claims have no signed routes
    for entrypoint in routes:
        url = base + re.sub(r"<(?:\w+:)?(\w+)>", r"x-\1", entrypoint.url)
        for method in entrypoint.method.split(","):
            answer = requests.request(method, url, data=b"{}")
            assert answer.status_code == 401, (method, entrypoint.url, answer.text)
