"""The clerk's commands end to end through the console script, on a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from services.kernel.idcard import check_digit
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import Person, bad_check_digit, person, quzhou_rows

MUTUAL_AID = os.path.join(os.path.dirname(sys.executable), "mutual-aid")
TODAY = "2024-11-01"  # inside Quzhou 2025's window (until 2024-11-30)


def _mutual_aid(tmp_path, *args: str, env: dict | None = None):
    done = subprocess.run(
        [MUTUAL_AID, *args], capture_output=True, text=True, env=env or os.environ, cwd=tmp_path
    )
    assert "Traceback" not in done.stderr
    body = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, body, done.stderr


@pytest.fixture
def run(tmp_path):
    """The CLI on this test's database, its clock pinned to TODAY (the global --today)."""
    env = {**os.environ, "MUTUAL_AID_ENROLLMENT_DB": f"sqlite:///{tmp_path}/enrollment.sqlite"}

    def run(*args: str, today: str = TODAY):
        return _mutual_aid(tmp_path, "--today", today, *args, env=env)

    return run


def born_on(day: date, i: int = 0) -> Person:
    first17 = f"110102{day:%Y%m%d}{i * 2 + 1:03d}"
    return Person(f"王{'一二三'[i]}", "男", first17 + check_digit(first17), "13900000000")


def open_application(run) -> str:
    code, unit, _ = run(
        "unit",
        "register",
        "--city",
        "quzhou",
        "--year",
        "2025",
        "--key",
        "K",
        "--name",
        "某工会",
        "--district",
        "龙游",
        "--staff-total",
        "2",
        "--staff-insured",
        "2",
    )
    assert code == 0
    code, app, _ = run(
        "application",
        "open",
        "--unit",
        unit["unit_id"],
        "--year",
        "2025",
        "--participants",
        "2",
        "--actor",
        "王芳",
    )
    assert code == 0
    return app["application_id"]


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


def test_a_read_only_command_does_not_create_a_missing_database(tmp_path):
    missing = tmp_path / "nowhere" / "x.sqlite"
    code, body, err = _mutual_aid(
        tmp_path,
        "application",
        "list",
        "--city",
        "quzhou",
        "--year",
        "2025",
        "--db",
        f"sqlite:///{missing}",
    )
    assert (code, body) == (2, None)
    assert err.strip().splitlines() == [
        f"mutual-aid: {missing}: no such database (nothing was created)"
    ]
    assert not missing.parent.exists()


def test_a_writing_command_creates_the_database(tmp_path):
    created = tmp_path / "new" / "x.sqlite"
    code, _, err = _mutual_aid(
        tmp_path,
        "unit",
        "register",
        "--city",
        "quzhou",
        "--year",
        "2025",
        "--key",
        "K",
        "--name",
        "某工会",
        "--district",
        "龙游",
        "--db",
        f"sqlite:///{created}",
    )
    assert code == 0, err
    assert created.is_file()


def test_the_roster_follows_the_pinned_day(run, tmp_path):
    """Someone born 2025-03-01 is not born yet on 2024-11-01, whatever the host's date."""
    application = open_application(run)
    people = [born_on(date(1980, 1, 1)), born_on(date(2025, 3, 1), 1)]
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx_bytes({"Sheet2": quzhou_rows(people)}))

    code, answer, _ = run("application", "import", application, str(path), "--actor", "王芳")
    assert code == 1 and answer["imported"] == 0
    assert [(e["row"], e["reason"]) for e in answer["errors"]] == [
        (5, "出生日期 2025-03-01 不合理")
    ]
    code, checked, _ = run("roster", "check", "--city", "quzhou", "--year", "2025", str(path))
    assert code == 1 and [e["row"] for e in checked["errors"]] == [5]
    code, ids, _ = run("idcard", people[1].id_number)
    assert code == 0 and ids["ids"][0]["valid"] is False

    code, answer, _ = run(
        "application", "import", application, str(path), "--actor", "王芳", today="2025-03-01"
    )
    assert code == 0 and answer["imported"] == 2


def test_submit_follows_the_pinned_day(run, tmp_path):
    """Quzhou 2025's window closes 2024-11-30: the same application is refused a day later."""
    application = open_application(run)
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx_bytes({"Sheet2": quzhou_rows([person(1), person(2)])}))
    assert run("application", "import", application, str(path), "--actor", "王芳")[0] == 0

    code, _, err = run("application", "submit", application, "--actor", "王芳", today="2024-12-01")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "2024-11-30" in err
    code, body, _ = run("application", "submit", application, "--actor", "王芳", today="2024-11-30")
    assert code == 0 and body["status"] == "submitted"


@pytest.mark.parametrize("bad", ["2024-13-01", "tomorrow", "20241101", ""])
def test_a_bad_today_is_one_line(run, bad):
    code, body, err = run("cities", today=bad)
    assert (code, body) == (2, None)
    assert len(err.strip().splitlines()) == 1 and "--today" in err and "YYYY-MM-DD" in err
