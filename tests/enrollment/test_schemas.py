"""Issue 8.5 for enrollment: anything a caller sends through an entrypoint is refused with one
Chinese line naming the field (InvalidRequest over RPC, 422 over HTTP) and nothing is stored,
the same on SQLite and PostgreSQL (where these inputs used to be a 500); ``roster check`` and
the import agree on a name longer than its column.

The service class runs under nameko's ``worker_factory`` on the ``session`` fixture's
database (both backends); HTTP handlers get a werkzeug request, as nameko hands them one.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import re
from datetime import date

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select

from services.access.guard import Caller
from services.cli import main
from services.enrollment.models import Application, RosterLine, RosterUpload, Unit, metadata
from services.enrollment.schemas import InvalidRequest
from services.enrollment.service import EnrollmentService
from services.kernel.registry import load_registry
from services.messaging.outbox import record_event
from tests import edge
from tests.conftest import BACKENDS, service_session
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import person, quzhou_rows

ENGLISH = re.compile(r"Not a valid|Length must|Missing data|Unknown field|Must be|Field may")
LONG_NAME = "欧阳" * 40  # 80 characters: the roster line and member columns hold 60


@pytest.fixture(params=BACKENDS)
def session(request, tmp_path):
    yield from service_session(request, tmp_path, metadata(), "enrollment")


@pytest.fixture
def service(session):
    worker = worker_factory(
        EnrollmentService,
        policies=load_registry(),
        today=lambda: date(2024, 11, 1),
        access=Caller(None),  # a caller on the bus: the actor it states is recorded
    )
    worker.db.session = session
    worker.outbox.record = functools.partial(record_event, session)
    return worker


@pytest.fixture
def application_id(service) -> str:
    unit = service.register_unit(
        "quzhou",
        2025,
        {
            "unit_key": "33080001",
            "name": "某单位工会",
            "district": "龙游",
            "staff_total": 10,
            "staff_insured": 10,
        },
    )
    opened = service.open_application(
        "quzhou", {"unit_id": unit["unit_id"], "year": 2025, "participants": 3}, "clerk"
    )
    return opened["application_id"]


def roster(people) -> bytes:
    return xlsx_bytes({"Sheet1": [["申请表"]], "Sheet2": quzhou_rows(people)})


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def refused(call, *fields: str) -> str:
    with pytest.raises(InvalidRequest) as raised:
        call()
    message = str(raised.value)
    for field in fields:
        assert field in message
    assert not ENGLISH.search(message), message
    return message


def upload(service, application_id, *, filename: str, actor: str = "clerk", data: bytes = b""):
    request = edge.request("POST", actor=actor, query={"filename": filename}, data=data)
    return edge.answer(EnrollmentService, lambda: service.upload_roster(request, application_id))


# ---- rosters -----------------------------------------------------------------------------------


def test_an_80_character_name_is_a_row_error_and_nothing_is_stored(
    service, session, application_id
):
    people = [person(0), dataclasses.replace(person(1), name=LONG_NAME), person(2)]
    data = base64.b64encode(roster(people)).decode()
    answer = service.import_roster(application_id, "名册.xlsx", data, "clerk")
    assert [(e["row"], e["column"]) for e in answer["errors"]] == [(5, "姓名")]
    assert "最多 60 个字" in answer["errors"][0]["reason"]
    assert answer["imported"] == 0 and count(session, RosterLine) == 0


def test_roster_check_refuses_the_name_the_import_refuses(capsys, tmp_path):
    path = tmp_path / "名册.xlsx"
    path.write_bytes(roster([person(0), dataclasses.replace(person(1), name=LONG_NAME)]))
    code = main(["roster", "check", str(path), "--city", "quzhou", "--year", "2025"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(e["row"], e["column"]) for e in answer["errors"]] == [(5, "姓名")]


def test_a_200_character_actor_is_refused_and_nothing_stored(service, session, application_id):
    data = base64.b64encode(roster([person(0)])).decode()
    refused(lambda: service.import_roster(application_id, "名册.xlsx", data, "王" * 200), "actor")
    assert count(session, RosterLine) == 0 and count(session, RosterUpload) == 0


@pytest.mark.parametrize(
    ("filename", "why"), [("名册\x00.xlsx", "控制字符"), ("名" * 5000 + ".xlsx", "最多 255 个字符")]
)
def test_an_upload_named_with_nul_or_5000_characters_answers_422(
    service, session, application_id, filename, why
):
    bad = roster([dataclasses.replace(person(0), id_number="330000000000000000")])
    status, body = upload(service, application_id, filename=filename, data=bad)
    assert status == 422
    assert "filename" in body["error"] and why in body["error"]
    assert count(session, RosterUpload) == 0 and count(session, RosterLine) == 0


def test_a_200_character_actor_from_the_edge_answers_422(service, session, application_id):
    status, body = upload(
        service, application_id, filename="名册.xlsx", actor="a" * 200, data=roster([person(0)])
    )
    assert status == 422 and "actor" in body["error"]
    assert count(session, RosterLine) == 0


def test_a_report_asked_for_by_an_id_with_nul_answers_422(service):
    request = edge.request("GET", actor=None)
    status, body = edge.answer(
        EnrollmentService, lambda: service.download_report(request, "abc\x00")
    )
    assert status == 422
    assert "upload_id" in body["error"]


# ---- units and applications --------------------------------------------------------------------


def test_a_unit_name_longer_than_its_column_is_refused(service, session):
    unit = {"unit_key": "K1", "name": "单" * 201, "chair": "主席\x00"}
    message = refused(lambda: service.register_unit("quzhou", 2025, unit), "name", "chair")
    assert "最多 200 个字符" in message
    assert count(session, Unit) == 0


def test_counts_beyond_any_unit_are_refused(service, session, application_id):
    refused(
        lambda: service.update_application(application_id, {"participants": 10**12}, "clerk"),
        "participants",
    )
    assert session.get(Application, application_id).participants == 3


def test_english_messages_no_longer_leak(service):
    message = refused(lambda: service.cover("quzhou", "123", "2024-02-30"), "id_number", "on_date")
    assert "至少 15 个字符" in message and "应为日期" in message
    refused(lambda: service.list_applications("quzhou", "2025"), "year")
    refused(lambda: service.return_application("x" * 37, "reviewer", "原因"), "application_id")
