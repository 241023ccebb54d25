"""The enrollment service on real RabbitMQ, through nameko's own testing tools.

`rabbit_config` gives each test its own vhost on the local broker (the management plugin
must be on: scripts/services); `container_factory` runs the real service class with its real
dependencies (SQLite file per test); RPC goes through nameko's standalone proxy, events are
caught by a listener service with `entrypoint_waiter`, HTTP with requests on the port of nameko's `web_config`.
"""

from __future__ import annotations

import base64
import time

import eventlet
import pytest
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter, worker_factory

from services.enrollment import applications as ops
from services.enrollment.service import EnrollmentService
from services.kernel.idcard import check_digit
from tests.enrollment.files import xlsx_bomb, xlsx_bytes
from tests.enrollment.samples import Person, bad_check_digit, person, quzhou_rows
from tests.memory import peak_growth
from tests.tokens import bearer

pytestmark = pytest.mark.rabbit


class Listener:
    """Stands in for claims/notify: what enrollment announces must arrive."""

    name = "listener"
    seen: list = []

    @event_handler("enrollment", "application_submitted")
    def on_submitted(self, payload):
        self.seen.append(("application_submitted", payload))

    @event_handler("enrollment", "members_enrolled")
    def on_enrolled(self, payload):
        self.seen.append(("members_enrolled", payload))


@pytest.fixture
def config(rabbit_config, web_config, tmp_path):
    return {
        **rabbit_config,
        **web_config,
        "DATABASES": {"enrollment": f"sqlite:///{tmp_path}/var/enrollment.sqlite"},
        "DATABASE_CREATE_TABLES": True,
        "OUTBOX_RELAY_INTERVAL": 0.2,
        "FIXED_TODAY": "2024-11-01",  # inside Quzhou 2025's window (until 2024-11-30)
        "AUTH_KEY_DIR": f"{tmp_path}/auth",  # the `issuer` fixture's local issuer
    }


@pytest.fixture
def running(container_factory, config):
    Listener.seen = []
    enrollment = container_factory(EnrollmentService, config)
    listener = container_factory(Listener, config)
    enrollment.start()
    listener.start()
    return enrollment, listener


@pytest.fixture
def web(web_config_port, issuer):
    """nameko's `web` imports werkzeug.urls.url_join, gone in werkzeug 3: the same
    thing with requests and the port nameko's `web_config` chose; with the token of a
    clerk of the tests' district (衢江区, Quzhou)."""
    import requests

    class Session(requests.Session):
        def request(self, method, url, *args, **kwargs):
            return super().request(
                method, f"http://127.0.0.1:{web_config_port}{url}", *args, **kwargs
            )

    with Session() as session:
        session.headers.update(
            bearer(issuer, role="district_clerk", name="clerk", city="quzhou", district="衢江区")
        )
        yield session


def roster(people) -> str:
    data = xlsx_bytes({"Sheet1": [["申请表"]], "Sheet2": quzhou_rows(people)})
    return base64.b64encode(data).decode()


def test_register_import_submit_approve_over_rabbitmq(running, config):
    enrollment, listener = running
    with ServiceRpcProxy("enrollment", config) as rpc:
        unit = rpc.register_unit(
            "quzhou",
            2025,
            {
                "unit_key": "330800A",
                "name": "龙游某纸业有限公司工会",
                "district": "龙游",
                "staff_total": 100,
                "staff_insured": 100,
            },
        )
        app = rpc.open_application(
            "quzhou", {"unit_id": unit["unit_id"], "year": 2025, "participants": 80}, "clerk:wang"
        )
        answer = rpc.import_roster(
            app["application_id"],
            "龙游某纸业有限公司工会2025.xlsx",
            roster([person(i) for i in range(80)]),
            "clerk:wang",
        )
        assert answer["imported"] == 80 and answer["errors"] == []
        with entrypoint_waiter(listener, "on_submitted", timeout=10):
            submitted = rpc.submit(app["application_id"], "clerk:wang")
        assert submitted["status"] == "submitted"
        assert submitted["quote"]["account"]["number"] == "338000600018170324480030"
        with entrypoint_waiter(listener, "on_enrolled", timeout=10):
            rpc.approve(app["application_id"], "reviewer:li")
        covered = rpc.cover("quzhou", person(7).id_number, "2025-03-01")
        assert covered["unit_name"] == "龙游某纸业有限公司工会"
        assert rpc.cover("quzhou", person(7).id_number, "2026-03-01") is None
        masked = rpc.roster(app["application_id"])
        assert person(0).id_number not in str(masked)
    kinds = [kind for kind, _ in Listener.seen]
    assert kinds == ["application_submitted", "members_enrolled"]
    assert Listener.seen[0][1]["application_id"] == app["application_id"]
    assert Listener.seen[1][1]["members"] == 80 and "event_id" in Listener.seen[1][1]


def test_79_members_are_refused_with_the_reason(running, config):
    with ServiceRpcProxy("enrollment", config) as rpc:
        unit = rpc.register_unit(
            "quzhou",
            2025,
            {
                "unit_key": "K79",
                "name": "某单位",
                "district": "柯城区",
                "staff_total": 100,
                "staff_insured": 100,
            },
        )
        app = rpc.open_application(
            "quzhou", {"unit_id": unit["unit_id"], "year": 2025, "participants": 79}, "clerk"
        )
        rpc.import_roster(
            app["application_id"], "a.xlsx", roster([person(i) for i in range(79)]), "clerk"
        )
        with pytest.raises(RemoteError) as refused:
            rpc.submit(app["application_id"], "clerk")
        assert refused.value.exc_type == "SubmissionRefused"
        assert "低于 80%" in refused.value.value
        assert rpc.application(app["application_id"])["status"] == "draft"
    assert Listener.seen == []  # nothing announced for a refused submission


def test_bad_input_is_one_clear_error(running, config):
    with ServiceRpcProxy("enrollment", config) as rpc:
        with pytest.raises(RemoteError) as bad:
            rpc.register_unit(
                "quzhou", 2025, {"unit_key": "X", "name": "某单位", "distrct": "龙游"}
            )
        assert bad.value.exc_type == "InvalidRequest" and "distrct" in bad.value.value
        with pytest.raises(RemoteError) as unknown:
            rpc.register_unit("nowhere", 2025, {"unit_key": "X", "name": "某单位"})
        assert unknown.value.exc_type == "UnknownCity"


def test_http_upload_with_errors_stores_nothing_and_serves_the_report(running, config, web):
    with ServiceRpcProxy("enrollment", config) as rpc:
        unit = rpc.register_unit(
            "quzhou",
            2025,
            {
                "unit_key": "H1",
                "name": "某单位",
                "district": "衢江区",
                "staff_total": 10,
                "staff_insured": 10,
            },
        )
        app = rpc.open_application(
            "quzhou", {"unit_id": unit["unit_id"], "year": 2025, "participants": 10}, "clerk"
        )
        people = [person(i) for i in range(10)]
        rows = quzhou_rows(people)
        rows[5][3] = bad_check_digit(people[2].id_number)  # Excel row 6
        body = xlsx_bytes({"Sheet1": [["申请表"]], "Sheet2": rows})
        response = web.post(
            f"/enrollment/applications/{app['application_id']}/roster?filename=某单位2025.xlsx",
            data=body,
        )
        assert response.status_code == 422
        answer = response.json()
        assert [(e["row"], e["cell"]) for e in answer["errors"]] == [(6, "D6")]
        assert rpc.application(app["application_id"])["roster_rows"] == 0
        report = web.get(answer["report"])
        assert report.status_code == 200
        assert report.content[:2] == b"PK"  # an .xlsx workbook
        missing = web.post(
            f"/enrollment/applications/{app['application_id']}/roster",
            data=body,
            headers={"Authorization": None},
        )
        assert missing.status_code == 401


def test_worker_factory_unit_level(tmp_path):
    """The thin class with its dependencies replaced: cover() only reads and answers."""
    service = worker_factory(EnrollmentService)
    service.db.session = object()
    with pytest.raises(Exception, match="on_date"):
        service.cover("quzhou", "11010519491231002X", "not-a-date")


def test_entrypoint_hook_runs_inside_the_container(container_factory, config):
    container = container_factory(EnrollmentService, config)
    container.start()
    with entrypoint_hook(container, "list_applications") as list_applications:
        assert list_applications("quzhou", 2025) == []


# -- decoding in a worker thread ----------------------------------------------------------------


def _application(config) -> str:
    with ServiceRpcProxy("enrollment", config) as rpc:
        unit = rpc.register_unit(
            "quzhou",
            2025,
            {
                "unit_key": "B1",
                "name": "某单位",
                "district": "衢江区",
                "staff_total": 10,
                "staff_insured": 10,
            },
        )
        app = rpc.open_application(
            "quzhou", {"unit_id": unit["unit_id"], "year": 2025, "participants": 10}, "clerk"
        )
    return app["application_id"]


def _upload(web, application_id: str, body: bytes):
    started = time.perf_counter()
    response = web.post(
        f"/enrollment/applications/{application_id}/roster?filename=名册.xlsx",
        data=body,
    )
    return response, time.perf_counter() - started


def _another_request(web) -> float:
    """Seconds the service takes to answer a request that has nothing to do with the upload."""
    started = time.perf_counter()
    response = web.get("/enrollment/uploads/no-such-upload/report")
    assert response.status_code == 403  # issue 9: absent answers as "not yours" does
    return time.perf_counter() - started


def test_a_zip_bomb_is_refused_at_once_while_another_request_is_answered(running, config, web):
    application_id = _application(config)
    bomb = xlsx_bomb()  # 6 MB expanding to 2 GiB
    with peak_growth() as growth:
        upload = eventlet.spawn(_upload, web, application_id, bomb)
        eventlet.sleep(0)  # the upload is on its way
        other = _another_request(web)
        response, took = upload.wait()

    assert response.status_code == 422
    assert "文件解压后有 2048 MB，超过 200 MB 的上限" in response.json()["error"]
    assert took < 2 and other < 1
    assert growth.bytes < 200 * 1024 * 1024


@pytest.mark.postgres
def test_decoding_a_workbook_does_not_hold_other_requests(
    fresh_postgres, container_factory, config, web, monkeypatch
):
    """The decoder is held (as a big workbook holds it) until another request is answered:
    decoded on eventlet's hub, nothing else could run and the hold would time out.

    On PostgreSQL: each worker has a connection of its own there, while the SQLite engine
    has one connection that the upload's transaction holds until it ends."""
    config = {**config, "DATABASES": {"enrollment": fresh_postgres}}
    container_factory(EnrollmentService, config).start()
    threading = eventlet.patcher.original("threading")
    decoding, answered = threading.Event(), threading.Event()
    held = []
    real = ops.open_workbook

    def held_open(*args):
        decoding.set()
        held.append(answered.wait(5))
        return real(*args)

    monkeypatch.setattr(ops, "open_workbook", held_open)
    application_id = _application(config)
    body = xlsx_bytes({"Sheet1": [["申请表"]], "Sheet2": quzhou_rows([person(1), person(2)])})
    upload = eventlet.spawn(_upload, web, application_id, body)
    while not decoding.is_set():  # until the upload reaches the decoder
        eventlet.sleep(0.01)
    other = _another_request(web)
    answered.set()
    response, _ = upload.wait()

    assert held == [True] and other < 1
    assert response.status_code == 200 and response.json()["imported"] == 2


def test_the_workbook_limits_come_from_the_config(container_factory, config):
    config = {**config, "WORKBOOK_LIMITS": {"uncompressed_mb": 0}}
    container_factory(EnrollmentService, config).start()
    application_id = _application(config)
    with ServiceRpcProxy("enrollment", config) as rpc, pytest.raises(RemoteError) as refused:
        rpc.import_roster(application_id, "名册.xlsx", roster([person(1)]), "clerk")
    assert refused.value.exc_type == "RosterUnreadable"
    assert "超过 0.0 MB 的上限" in str(refused.value)


def test_a_roster_is_checked_on_the_services_pinned_day(running, config):
    """FIXED_TODAY is 2024-11-01: someone born 2025-03-01 is not born yet, whatever the
    host's date (tests/test_providers.py: the clock provider reads that key)."""
    first17 = "11010220250301001"
    unborn = Person("王一", "男", first17 + check_digit(first17), "13900000000")
    with ServiceRpcProxy("enrollment", config) as rpc:
        unit = rpc.register_unit(
            "quzhou",
            2025,
            {"unit_key": "D1", "name": "某单位", "district": "龙游", "staff_total": 2},
        )
        app = rpc.open_application(
            "quzhou", {"unit_id": unit["unit_id"], "year": 2025, "participants": 2}, "clerk"
        )
        data = base64.b64encode(xlsx_bytes({"Sheet2": quzhou_rows([person(0), unborn])}))
        answer = rpc.import_roster(app["application_id"], "x.xlsx", data.decode(), "clerk")
    assert answer["imported"] == 0
    assert [(e["row"], e["reason"]) for e in answer["errors"]] == [
        (5, "出生日期 2025-03-01 不合理")
    ]
