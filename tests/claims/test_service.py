"""Issue 5's done-when through the services on real RabbitMQ (nameko's testing tools).

The enrollment service enrols members (its cover answers the claims service over RPC); the
claims service takes claims in, assesses them with the city plugin and records approvals; a
listener catches the events. Each test runs both services in its own vhost.
"""

from __future__ import annotations

import base64

import pytest
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter

from services.claims import rules
from services.claims.service import ClaimsService
from services.enrollment.service import EnrollmentService
from services.kernel.registry import load_registry
from tests.claims.flow import pdf
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import person
from tests.memory import peak_growth
from tests.tokens import bearer

pytestmark = pytest.mark.rabbit


class Listener:
    name = "claims_listener"
    seen: list = []

    @event_handler("claims", "claim_approved")
    def on_approved(self, payload):
        self.seen.append(payload)


def config_for(rabbit_config, tmp_path, enrol_day: str, claim_day: str):
    """Two services, one clock each: enrolment happens in its window, claims later."""
    base = {
        **rabbit_config,
        "DATABASES": {
            "enrollment": f"sqlite:///{tmp_path}/var/enrollment.sqlite",
            "claims": f"sqlite:///{tmp_path}/var/claims.sqlite",
        },
        "DATABASE_CREATE_TABLES": True,
        "OUTBOX_RELAY_INTERVAL": 0.2,
        # any free port: nameko's default 0.0.0.0:8000 is no longer shared between processes
        "WEB_SERVER_ADDRESS": "127.0.0.1:0",
        "AUTH_KEY_DIR": f"{tmp_path}/auth",  # the `issuer` fixture's local issuer
    }
    return {**base, "FIXED_TODAY": enrol_day}, {**base, "FIXED_TODAY": claim_day}


def start(container_factory, enrollment_config, claims_config):
    Listener.seen = []
    for cls, config in (
        (EnrollmentService, enrollment_config),
        (ClaimsService, claims_config),
        (Listener, claims_config),
    ):
        container = container_factory(cls, config)
        container.start()
    return container  # the listener


def enrol(rpc, city: str, year: int, people, sheet: str, header: list[str], row) -> str:
    """Enrol `people` in a unit of `city` (by the bus, as trusted callers); the unit's id."""
    unit = rpc.enrollment.register_unit(
        city,
        year,
        {
            "unit_key": f"{city}-u1",
            "name": "测试单位工会",
            "staff_total": len(people),
            "staff_insured": len(people),
        },
    )
    app = rpc.enrollment.open_application(
        city, {"unit_id": unit["unit_id"], "year": year, "participants": len(people)}, "clerk"
    )
    rows = [["名册"], header] + [row(i, p) for i, p in enumerate(people, start=1)]
    data = base64.b64encode(xlsx_bytes({sheet: rows})).decode()
    answer = rpc.enrollment.import_roster(app["application_id"], "名册.xlsx", data, "clerk")
    assert answer["errors"] == [], answer["errors"]
    rpc.enrollment.submit(app["application_id"], "clerk")
    rpc.enrollment.approve(app["application_id"], "reviewer")
    return unit["unit_id"]


def claim(rpc, city: str, year: int, who, facts: dict) -> dict:
    created = rpc.claims.create_claim(city, year, who.id_number, facts, "clerk", who.name)
    benefit = next(
        b for b in load_registry().get(city).benefits(year) if b.code == facts["benefit"]
    )
    for i, document in enumerate(benefit.attachments):
        content = base64.b64encode(pdf(str(i))).decode()
        rpc.claims.add_attachment(created["claim_id"], document, f"{i}.pdf", content, "clerk")
    return rpc.claims.submit(created["claim_id"], "clerk")


ZJK_HEADER = ["序号", "姓名", "性别", "身份证号", "是否享受医保", "备注", "联系电话"]


def zjk_row(i, p):
    return [i, p.name, p.sex, p.id_number, "是", "在职", p.phone]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def zhangjiakou(request, container_factory, rabbit_config, tmp_path):
    enrollment_config, claims_config = config_for(
        rabbit_config, tmp_path, "2024-03-01", "2024-06-01"
    )
    if request.param == "postgres":  # claims on PostgreSQL: approvals really run side by side
        from sqlalchemy import create_engine, text

        url = request.getfixturevalue("postgres_url")
        schema = f"claims_{tmp_path.name[-12:].replace('-', '_').lower()}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        claims_config["DATABASES"] = {
            **claims_config["DATABASES"],
            "claims": f"{url}?options=-csearch_path%3D{schema}",
        }
    listener = start(container_factory, enrollment_config, claims_config)
    people = [person(i) for i in range(10)]
    with ClusterRpcProxy(claims_config) as rpc:
        enrol(rpc, "zhangjiakou", 2024, people, "人员名册", ZJK_HEADER, zjk_row)
        yield rpc, people, listener


def test_three_critical_illness_claims_pay_12000_12000_6000(zhangjiakou):
    rpc, people, listener = zhangjiakou
    paid = []
    for month in (1, 3, 5):
        facts = {
            "benefit": "critical_illness",
            "disease": "恶性肿瘤",
            "total_cost": "120000",
            "admission_date": f"2024-0{month}-10",
        }
        submitted = claim(rpc, "zhangjiakou", 2024, people[0], facts)
        with entrypoint_waiter(listener, "on_approved", timeout=10):
            approved = rpc.claims.approve(submitted["claim_id"], "reviewer")
        paid.append(approved["payable"])
    assert paid == ["12000.00", "12000.00", "6000.00"]
    assert [e["claim_id"] for e in Listener.seen] and len(Listener.seen) == 3


def test_two_concurrent_general_illness_claims_one_approved_one_refused(zhangjiakou):
    rpc, people, _ = zhangjiakou
    first = claim(
        rpc,
        "zhangjiakou",
        2024,
        people[1],
        {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2024-02-01"},
    )
    second = claim(
        rpc,
        "zhangjiakou",
        2024,
        people[1],
        {"benefit": "general_illness", "total_cost": "30000", "admission_date": "2024-04-01"},
    )
    # both approvals in flight at once (nameko's async RPC), on the same member-year
    calls = [rpc.claims.approve.call_async(c["claim_id"], "reviewer") for c in (first, second)]
    answers = [call.result() for call in calls]
    assert sorted(a["status"] for a in answers) == ["approved", "rejected"]
    rejected = next(a for a in answers if a["status"] == "rejected")
    assert any("每期只能申请一次" in r for r in rejected["assessment"]["reasons"])


def test_a_claim_dated_outside_cover_is_refused_with_the_reason(zhangjiakou):
    rpc, people, _ = zhangjiakou
    with pytest.raises(RemoteError) as refused:
        claim(
            rpc,
            "zhangjiakou",
            2024,
            people[2],
            {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2023-12-28"},
        )
    assert refused.value.exc_type == "SubmissionRefused"
    assert "2023-12-28" in refused.value.value


def test_a_person_not_enrolled_is_refused(zhangjiakou):
    rpc, _, _ = zhangjiakou
    with pytest.raises(RemoteError) as refused:
        claim(
            rpc,
            "zhangjiakou",
            2024,
            person(900),
            {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2024-02-01"},
        )
    assert refused.value.exc_type == "SubmissionRefused"


WUJIN_HEADER = ["序号", "乡镇", "姓名", "身份证号码", "手机号码", "工作单位", "工会卡卡号", "签字"]


def wujin_row(i, p):
    return [i, "湖塘镇", p.name, p.id_number, p.phone, "测试单位", f"62230000{i:08d}", ""]


def test_wujin_second_stay_tops_up_to_the_new_band(container_factory, rabbit_config, tmp_path):
    enrollment_config, claims_config = config_for(
        rabbit_config, tmp_path, "2023-11-01", "2024-09-01"
    )
    start(container_factory, enrollment_config, claims_config)
    people = [person(i) for i in range(3)]
    sheet = load_registry().get("wujin").roster_format(2024).sheet
    with ClusterRpcProxy(claims_config) as rpc:
        enrol(rpc, "wujin", 2024, people, sheet, WUJIN_HEADER, wujin_row)
        amounts = []
        for day, self_borne in (("2024-03-01", "3000"), ("2024-07-01", "3000")):
            submitted = claim(
                rpc,
                "wujin",
                2024,
                people[0],
                {"benefit": "inpatient", "self_borne": self_borne, "admission_date": day},
            )
            amounts.append(rpc.claims.approve(submitted["claim_id"], "reviewer")["payable"])
    assert amounts == ["500.00", "500.00"]  # 3000 → 500; 6000 in the 5000 band → 1000 − 500


def test_http_intake_creates_attaches_submits_and_reads(
    container_factory, rabbit_config, web_config, web_config_port, tmp_path, issuer
):
    import requests

    enrollment_config, claims_config = config_for(
        rabbit_config, tmp_path, "2024-03-01", "2024-06-01"
    )
    claims_config = {**claims_config, **web_config}
    start(container_factory, enrollment_config, claims_config)
    people = [person(i) for i in range(10)]
    base = f"http://127.0.0.1:{web_config_port}"
    with ClusterRpcProxy(claims_config) as rpc, requests.Session() as web:
        unit = enrol(rpc, "zhangjiakou", 2024, people, "人员名册", ZJK_HEADER, zjk_row)
        web.headers.update(bearer(issuer, city="zhangjiakou", unit=unit))
        body = {
            "city": "zhangjiakou",
            "year": 2024,
            "id_number": people[3].id_number,
            "name": people[3].name,
            "facts": {
                "benefit": "general_illness",
                "total_cost": "20000",
                "admission_date": "2024-02-01",
            },
        }
        created = web.post(f"{base}/claims", json=body)
        assert created.status_code == 201, created.text
        claim_id = created.json()["claim_id"]
        early = web.post(f"{base}/claims/{claim_id}/submit", json={})
        assert early.status_code == 422 and early.json()["problems"]  # documents missing
        benefit = next(
            b
            for b in load_registry().get("zhangjiakou").benefits(2024)
            if b.code == "general_illness"
        )
        for i, document in enumerate(benefit.attachments):
            attached = web.post(
                f"{base}/claims/{claim_id}/attachments",
                params={"document": document, "filename": f"{i}.pdf"},
                data=pdf(str(i)),
            )
            assert attached.status_code == 201, attached.text
        refused = web.post(
            f"{base}/claims/{claim_id}/attachments",
            params={"document": benefit.attachments[0]},
            data=b"not a pdf",
        )
        assert refused.status_code == 422
        submitted = web.post(f"{base}/claims/{claim_id}/submit", json={})
        assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
        read = web.get(f"{base}/claims/{claim_id}")
        assert read.json()["assessment"]["payable"] == "1000.00"
        assert (
            web.post(f"{base}/claims", json=body, headers={"Authorization": ""}).status_code == 401
        )
        # issue 9: "does not exist" answers as "not yours" does
        assert web.get(f"{base}/claims/none").status_code == 403
        misspelt = web.post(f"{base}/claims", json={**body, "facs": {}})
        assert misspelt.status_code == 422 and "facs" in misspelt.json()["error"]
        text_year = web.post(f"{base}/claims", json={**body, "year": "2024"})
        assert text_year.status_code == 422 and "year" in text_year.json()["error"]
        bad_fact = web.post(
            f"{base}/claims", json={**body, "facts": {**body["facts"], "total_cots": "1"}}
        )
        assert bad_fact.status_code == 422 and "total_cots" in bad_fact.json()["error"]


def test_http_attachment_body_goes_to_storage_without_base64_copies(
    container_factory, rabbit_config, web_config, web_config_port, tmp_path, issuer
):
    """A 10 MB upload takes a small multiple of 10 MB: the body as werkzeug reads it (its
    chunks, then the joined bytes) and SQLite's copies of the row; measured here 4.8 times
    the file. The base64 round trip it replaced (13.3 MB of text, a str of it, the decoded
    bytes again) took 7.1 times."""
    import requests

    enrollment_config, claims_config = config_for(
        rabbit_config, tmp_path, "2024-03-01", "2024-06-01"
    )
    claims_config = {**claims_config, **web_config}
    start(container_factory, enrollment_config, claims_config)
    people = [person(i) for i in range(3)]
    base = f"http://127.0.0.1:{web_config_port}"
    size = 10 * 1024 * 1024
    with ClusterRpcProxy(claims_config) as rpc, requests.Session() as web:
        unit = enrol(rpc, "zhangjiakou", 2024, people, "人员名册", ZJK_HEADER, zjk_row)
        facts = {"benefit": "general_illness", "total_cost": "20000"}
        facts["admission_date"] = "2024-02-01"
        created = rpc.claims.create_claim(
            "zhangjiakou", 2024, people[1].id_number, facts, "clerk", people[1].name
        )
        # cover named the member's unit at creation: the draft is the unit's, its clerk's
        web.headers.update(bearer(issuer, name="clerk", city="zhangjiakou", unit=unit))
        benefit = next(
            b
            for b in load_registry().get("zhangjiakou").benefits(2024)
            if b.code == "general_illness"
        )
        both = list(benefit.attachments[:2])
        body = pdf("scan", size=size)
        url = f"{base}/claims/{created['claim_id']}/attachments"
        rules.attachment_type(pdf(), "warm-up.pdf")  # pypdf's modules are no upload's cost
        with peak_growth() as growth:
            attached = web.post(
                url,
                params={"document": both, "filename": "扫描.exe"},
                data=body,
            )
        assert attached.status_code == 201, attached.text
        answer = attached.json()
        assert answer["size"] == size and answer["filename"] == "扫描.pdf"
        assert set(answer["documents"]) == set(both)
        assert growth.bytes < 6 * size, growth.bytes / size

        too_big = web.post(
            url,
            params={"document": both[0]},
            data=pdf("scan", size=size + 1),
        )
        assert too_big.status_code == 422
        assert "10,485,761 字节，比 10 MB（10,485,760 字节）的上限多 1 字节" in too_big.text
        for i, document in enumerate(benefit.attachments[2:]):
            rpc.claims.add_attachment(
                created["claim_id"],
                document,
                f"{i}.pdf",
                base64.b64encode(pdf(str(i))).decode(),
                "clerk",
            )
        assert rpc.claims.submit(created["claim_id"], "clerk")["status"] == "submitted"


def test_a_returned_claim_is_corrected_over_http_and_resubmitted(
    container_factory, rabbit_config, web_config, web_config_port, tmp_path, issuer
):
    """Issue 8.12: PATCH /claims/<id> and DELETE /claims/<id>/attachments/<id> reach
    update_claim and remove_attachment, with the create's checks, only while the claim is a
    draft or returned, each change in the claim's history with who and why."""
    import requests

    enrollment_config, claims_config = config_for(
        rabbit_config, tmp_path, "2024-03-01", "2024-06-01"
    )
    claims_config = {**claims_config, **web_config}
    start(container_factory, enrollment_config, claims_config)
    people = [person(i) for i in range(3)]
    base = f"http://127.0.0.1:{web_config_port}"
    with ClusterRpcProxy(claims_config) as rpc, requests.Session() as web:
        unit = enrol(rpc, "zhangjiakou", 2024, people, "人员名册", ZJK_HEADER, zjk_row)
        web.headers.update(bearer(issuer, name="clerk", sub="clerk", city="zhangjiakou", unit=unit))
        facts = {
            "benefit": "general_illness",
            "total_cost": "20000",
            "admission_date": "2024-02-01",
        }
        submitted = claim(rpc, "zhangjiakou", 2024, people[1], facts)
        claim_id = submitted["claim_id"]
        patch = {"facts": {**facts, "total_cost": "30000"}, "reason": "结算单金额录错"}
        locked = web.patch(f"{base}/claims/{claim_id}", json=patch)
        assert locked.status_code == 422 and "已提交待审核" in locked.json()["error"]

        rpc.claims.return_claim(claim_id, "reviewer", "结算单金额与发票不符，请核对")
        wrong = web.patch(
            f"{base}/claims/{claim_id}", json={"facts": {**facts, "total_cost": "1e400"}}
        )
        assert wrong.status_code == 422 and "total_cost" in wrong.json()["error"]
        misspelt = web.patch(f"{base}/claims/{claim_id}", json={"nmae": "张三"})
        assert misspelt.status_code == 422 and "nmae" in misspelt.json()["error"]
        corrected = web.patch(f"{base}/claims/{claim_id}", json=patch)
        assert corrected.status_code == 200, corrected.text
        assert corrected.json()["facts"]["total_cost"] == "30000"

        documents = web.get(f"{base}/claims/{claim_id}").json()["attachments"]
        first = documents[0]
        (first_document,) = first["documents"]
        assert web.delete(f"{base}/claims/{claim_id}/attachments/none").status_code == 404
        removed = web.delete(f"{base}/claims/{claim_id}/attachments/{first['attachment_id']}")
        assert removed.status_code == 200, removed.text
        assert len(removed.json()["attachments"]) == len(documents) - 1
        missing = web.post(f"{base}/claims/{claim_id}/submit", json={})
        assert missing.status_code == 422 and first_document in missing.json()["problems"][0]
        again = web.post(
            f"{base}/claims/{claim_id}/attachments",
            params={"document": first_document, "filename": "重新扫描.pdf"},
            data=pdf("rescanned"),
        )
        assert again.status_code == 201, again.text
        resubmitted = web.post(f"{base}/claims/{claim_id}/submit", json={})
        assert resubmitted.status_code == 200 and resubmitted.json()["status"] == "submitted"

        history = web.get(f"{base}/claims/{claim_id}").json()["history"]
        edits = [(h["actor"], h["to"], h["reason"]) for h in history if h["from"] == h["to"]]
        assert edits == [
            ("clerk (clerk)", "returned", "修改事实：结算单金额录错"),
            ("clerk (clerk)", "returned", f"删除材料「{first_document}」{first['filename']}"),
        ]
        assert all(h["at"] for h in history)
        assert resubmitted.json()["assessment"]["payable"] != submitted["assessment"]["payable"]
