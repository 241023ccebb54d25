"""`mutual-aid payments reconcile` and `mutual-aid bank-sim` from the command line: the
statement with a missing, an extra and a short line reports exactly those three as JSON on
stdout and as an Excel report; bad input is one line on stderr, exit 2."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook

from services.cli import main
from services.messaging.database import make_engine, make_session_factory, session_scope
from services.payments.models import metadata
from tests.payments import test_reconcile
from tests.payments.conftest import Recorder


@pytest.fixture
def database(tmp_path, zhangjiakou):
    """A payments database where three units' premiums arrived (test_reconcile's account)."""
    url = f"sqlite:///{tmp_path}/payments.sqlite"
    engine = make_engine(url, pool_size=1)
    metadata().create_all(engine)
    with session_scope(make_session_factory(engine)) as session:
        account = test_reconcile.account.__wrapped__(session, zhangjiakou, Recorder())
    engine.dispose()
    return url, account


def test_reconcile_reports_the_missing_the_extra_and_the_short_line(database, tmp_path, capsys):
    url, account = database
    statement = tmp_path / "0301.csv"
    statement.write_bytes(test_reconcile.csv_bytes(test_reconcile.STATEMENT))
    report = tmp_path / "report.xlsx"

    code = main(
        ["payments", "reconcile", str(statement), "--account", account, "--db", url]
        + ["--report", str(report)]
    )

    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert result["day"] == "2024-03-01"
    assert [m["bank"]["serial"] for m in result["matched"]] == ["SER1"]
    assert [(d["bank"]["serial"], d["difference"]) for d in result["amount_differs"]] == [
        ("SER2", "-50.00")
    ]
    assert [o["serial"] for o in result["ours_only"]] == ["SER3"]
    assert [b["serial"] for b in result["bank_only"]] == ["SER9"]
    assert len(load_workbook(report).sheetnames) >= 4

    # the same file again: every line a duplicate, nothing new
    assert main(["payments", "reconcile", str(statement), "--account", account, "--db", url]) == 0
    again = json.loads(capsys.readouterr().out)
    assert len(again["duplicates"]) == 3 and again["import"]["new"] == 0


def test_reconcile_refuses_a_missing_database_in_one_line(tmp_path, capsys):
    statement = tmp_path / "0301.csv"
    statement.write_bytes(test_reconcile.csv_bytes(test_reconcile.STATEMENT))
    with pytest.raises(SystemExit) as stopped:
        main(
            ["payments", "reconcile", str(statement), "--account", "1"]
            + ["--db", f"sqlite:///{tmp_path}/none.sqlite"]
        )
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such database" in err


def test_bank_sim_refuses_a_share_above_one(capsys):
    assert main(["bank-sim", "--lose", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "between 0 and 1" in err
