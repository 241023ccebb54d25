"""The clerk's commands end to end through the console script, on a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import bad_check_digit, person, quzhou_rows

MUTUAL_AID = os.path.join(os.path.dirname(sys.executable), "mutual-aid")


@pytest.fixture
def run(tmp_path):
    env = {
        **os.environ,
        "MUTUAL_AID_ENROLLMENT_DB": f"sqlite:///{tmp_path}/enrollment.sqlite",
        "MUTUAL_AID_TODAY": "2024-11-01",
    }

    def run(*args: str):
        done = subprocess.run(
            [MUTUAL_AID, *args], capture_output=True, text=True, env=env, cwd=tmp_path
        )
        assert "Traceback" not in done.stderr
        body = json.loads(done.stdout) if done.stdout.strip() else None
        return done.returncode, body, done.stderr

    return run


def test_register_open_import_submit_list(run, tmp_path):
    code, unit, _ = run(
        "unit",
        "register",
        "--city",
        "quzhou",
        "--year",
        "2025",
        "--key",
        "330800A",
        "--name",
        "龙游某纸业有限公司工会",
        "--district",
        "龙游县",
        "--staff-total",
        "100",
        "--staff-insured",
        "100",
    )
    assert code == 0 and unit["district"] == "龙游"
    code, app, _ = run(
        "application",
        "open",
        "--unit",
        unit["unit_id"],
        "--year",
        "2025",
        "--participants",
        "80",
        "--actor",
        "王芳",
    )
    assert code == 0 and app["status"] == "draft"

    people = [person(i) for i in range(80)]
    rows = quzhou_rows(people)
    rows[10][3] = bad_check_digit(people[7].id_number)  # Excel row 11
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx_bytes({"Sheet2": rows}))
    code, answer, _ = run(
        "application",
        "import",
        app["application_id"],
        str(bad),
        "--actor",
        "王芳",
        "--report",
        str(tmp_path / "report.xlsx"),
    )
    assert code == 1 and answer["imported"] == 0
    assert [e["row"] for e in answer["errors"]] == [11]
    assert (tmp_path / "report.xlsx").exists()

    good = tmp_path / "good.xlsx"
    good.write_bytes(xlsx_bytes({"Sheet2": quzhou_rows(people)}))
    code, answer, progress = run(
        "application", "import", app["application_id"], str(good), "--actor", "王芳", "--progress"
    )
    assert code == 0 and answer["imported"] == 80
    assert "已导入 80 人" in progress

    code, submitted, _ = run("application", "submit", app["application_id"], "--actor", "王芳")
    assert code == 0 and submitted["status"] == "submitted"
    assert submitted["quote"]["account"]["number"] == "338000600018170324480030"
    code, listing, _ = run(
        "application", "list", "--city", "quzhou", "--year", "2025", "--status", "submitted"
    )
    assert [a["roster_rows"] for a in listing["applications"]] == [80]

    code, body, err = run(
        "application", "return", app["application_id"], "--reason", "缺少盖章", "--actor", "李审核"
    )
    assert code == 0 and body["status"] == "returned"
    code, body, err = run("application", "approve", app["application_id"], "--actor", "李审核")
    assert code == 2 and body is None and len(err.strip().splitlines()) == 1


def test_bad_arguments_are_one_line(run):
    code, body, err = run(
        "application",
        "open",
        "--unit",
        "nope",
        "--year",
        "2025",
        "--participants",
        "1",
        "--actor",
        "x",
    )
    assert (
        (code, body) == (2, None) and "没有单位 nope" in err and len(err.strip().splitlines()) == 1
    )
    code, _, err = run(
        "unit", "register", "--city", "quzhou", "--year", "25", "--key", "k", "--name", "n"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
