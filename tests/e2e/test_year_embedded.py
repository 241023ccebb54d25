"""Issue 12's end-to-end run, embedded: the demo's year (services.demo.year) step by step on
the in-process suite `mutual-aid demo` starts, each step's outcome asserted."""

from __future__ import annotations

import json

import pytest

from services.demo.suite import embedded_suite
from services.demo.year import Year
from services.messaging.embedded import reset_memory_bus
from tests.e2e import year_checks


@pytest.fixture
def suite(tmp_path):
    reset_memory_bus()
    with embedded_suite(tmp_path / "var") as running:
        yield running
    reset_memory_bus()


def test_the_demo_year_embedded(suite, tmp_path):
    rpc, bank_url = suite
    lines: list[str] = []
    year = Year(rpc, bank_url, lines.append)

    year.enrol()
    year.invoices()
    year.pay()
    year.resolve_held()
    year.approve_units()
    year.sms()
    year_checks.check_enrolment(year)
    year_checks.check_invoices_and_premiums(year)

    year.claim()
    year.review()
    year.payouts()
    year.retry_dormant()
    year.close()
    year_checks.check_sms(year)
    year_checks.check_claims_and_payouts(year)
    year_checks.check_ledger(year, f"sqlite:///{tmp_path / 'var' / 'payments.sqlite'}")
    assert lines[0].startswith("1. ") and lines[-1].startswith("   张家口 2024")


def test_mutual_aid_demo_says_the_year_is_complete(mutual_aid, tmp_path):
    done = mutual_aid("demo", "--var", str(tmp_path / "var"))

    assert done.code == 0, done.stdout + done.stderr
    steps, outcome = done.stdout.split("全年流程完成 / the year is complete\n")
    assert [line.split(".")[0] for line in steps.splitlines() if line[:1].isdigit()] == [
        str(n) for n in range(1, 12)
    ]
    outcome = json.loads(outcome)
    assert (outcome["complete"], outcome["enrolled"], outcome["claims_paid"]) == (True, 90, 3)


def test_demo_on_a_broker_needs_its_bank_too(mutual_aid):
    done = mutual_aid("demo", "--amqp", "amqp://guest:guest@127.0.0.1:5672/")

    assert done.code == 2
    assert done.stderr.splitlines() == [
        "mutual-aid: --amqp and --bank go together (a running suite's broker and bank)"
    ]
