"""A clerk's CLI import and an HTTP upload to the running service, at once, on one SQLite file.

The embedded default must bear this (issue 8, point 7: it answered `database is locked`):
each side reads its workbook outside any transaction and stores it in one short one, and
waits its turn for the other's (services/messaging/database.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from sqlalchemy import select

from services.enrollment import applications as ops
from services.enrollment.models import RosterLine, metadata
from services.enrollment.service import EnrollmentService
from services.kernel.registry import load_registry
from services.messaging.database import make_engine, make_session_factory, session_scope
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import person, quzhou_rows
from tests.tokens import auth_config, bearer

pytestmark = pytest.mark.rabbit

MUTUAL_AID = os.path.join(os.path.dirname(sys.executable), "mutual-aid")
TODAY = "2024-11-01"  # inside Quzhou 2025's window
ROWS = 3000  # enough that reading a roster takes a good part of a second
ROUNDS = 4


@pytest.fixture
def database(tmp_path):
    """The service's SQLite file with two units' draft applications: one for the CLI, one for
    the service."""
    url = f"sqlite:///{tmp_path}/var/enrollment.sqlite"
    engine = make_engine(url)
    metadata().create_all(engine)
    quzhou = load_registry().get("quzhou")
    ids = []
    with session_scope(make_session_factory(engine)) as session:
        for key in ("CLI", "HTTP"):
            unit = ops.register_unit(
                session, quzhou, year=2025, unit_key=key, name=f"{key}工会", district="龙游"
            )
            app = ops.open_application(
                session, quzhou, unit_id=unit.id, year=2025, participants=ROWS, actor="王芳"
            )
            ids.append(app.id)
    engine.dispose()
    return url, ids


def roster(first: int, round_no: int) -> bytes:
    """ROWS people from `first`, a different sample each round (so each import replaces)."""
    start = first + round_no * ROWS
    return xlsx_bytes({"Sheet2": quzhou_rows([person(i) for i in range(start, start + ROWS)])})


def rows_of(url: str, application_id: str) -> list[str]:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return sorted(
                session.scalars(
                    select(RosterLine.id_number).where(RosterLine.application_id == application_id)
                )
            )
    finally:
        engine.dispose()


def test_cli_import_while_the_service_imports_over_http(
    container_factory, rabbit_config, web_config, web_config_port, database, tmp_path, issuer
):
    url, (cli_app, http_app) = database
    config = {
        **rabbit_config,
        **web_config,
        "DATABASES": {"enrollment": url},
        "DATABASE_CREATE_TABLES": True,
        "FIXED_TODAY": TODAY,
        **auth_config(issuer),
    }
    container_factory(EnrollmentService, config).start()
    clerk = bearer(issuer, role="district_clerk", name="李", city="quzhou", district="龙游")
    upload = f"http://127.0.0.1:{web_config_port}/enrollment/applications/{http_app}/roster"
    cli_people = 0  # the CLI's files start at person 0, the service's far beyond
    http_people = 100 * ROWS

    for round_no in range(ROUNDS):
        path = tmp_path / f"cli-{round_no}.xlsx"
        path.write_bytes(roster(cli_people, round_no))
        body = roster(http_people, round_no)
        cli = subprocess.Popen(
            [MUTUAL_AID, "--today", TODAY, "application", "import", cli_app, str(path)]
            + ["--actor", "王芳", "--db", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        uploads = 0
        while cli.poll() is None or uploads == 0:  # upload for as long as the CLI runs
            response = requests.post(
                upload, data=body, headers=clerk, params={"filename": "名册.xlsx"}
            )
            assert response.status_code == 200, response.text
            assert response.json()["imported"] == ROWS
            uploads += 1
        out, err = cli.communicate(timeout=60)
        assert cli.returncode == 0, err
        assert '"imported": 3000' in out

        start = round_no * ROWS
        assert rows_of(url, cli_app) == sorted(
            person(i).id_number for i in range(cli_people + start, cli_people + start + ROWS)
        )
        assert rows_of(url, http_app) == sorted(
            person(i).id_number for i in range(http_people + start, http_people + start + ROWS)
        )
