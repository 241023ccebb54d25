"""The demo's year as assertions, shared by the embedded and the production run: what every
step must have left behind, read back from the services (RPC), the bank simulator (its
query API) and the payments ledger (its database)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import requests

from services.demo.year import SHORT_BY, Year, wait_for
from services.kernel.privacy import mask_id
from services.kernel.registry import load_city
from services.messaging.database import make_engine, make_session_factory, session_scope
from services.payments import ledger


def check_enrolment(year: Year) -> None:
    rpc = year.rpc
    for unit in year.units:
        roster = rpc.enrollment.roster(unit.application_id)
        assert sorted(m["id_number"] for m in roster) == sorted(  # listed masked
            mask_id(p.id_number) for p in unit.people
        )
        assert rpc.enrollment.application(unit.application_id)["status"] == "approved"
    for city, yr in {(u.city, u.year) for u in year.units}:
        listed = rpc.enrollment.list_applications(city, yr)
        assert len(listed) == sum(1 for u in year.units if u.city == city)  # none doubled
    assert year.outcome["roster_errors"] == 1 and year.outcome["enrolled"] == 90


def check_invoices_and_premiums(year: Year) -> None:
    rpc = year.rpc
    quzhou = load_city("quzhou")
    for unit in year.units:
        invoice = rpc.payments.invoice_of_application(unit.application_id)
        assert invoice["invoice_id"] == unit.invoice["invoice_id"]  # issued once
        if unit.city == "quzhou":
            assert invoice["account"]["number"] == quzhou.account(2025, unit.district).number
    short = year.units[1]
    payments = {u.application_id: year._payment(u) for u in year.units}
    assert payments == {
        u.application_id: ("part_paid" if u is short else "paid") for u in year.units
    }
    assert rpc.payments.held("zhangjiakou") == [] and rpc.payments.held("quzhou") == []
    received = {
        row["unit_id"]: Decimal(row["received"])
        for city, yr in (("zhangjiakou", 2024), ("quzhou", 2025))
        for row in rpc.payments.unit_premiums(city, yr)
    }
    assert received == {
        u.unit_id: Decimal(u.invoice["amount"]) - (SHORT_BY if u is short else 0)
        for u in year.units
    }  # every transfer applied exactly once


def check_sms(year: Year) -> None:
    for unit in year.units:
        for p in unit.people:
            templates = Counter(m["template"] for m in year.rpc.notify.sent_to(p.phone))
            assert templates["members_enrolled"] == 1, (p.phone, templates)
    clerk = Counter(m["template"] for m in year.rpc.notify.sent_to(year.units[1].contact_phone))
    assert clerk["payment_held"] == 1, clerk


def check_claims_and_payouts(year: Year) -> None:
    rpc = year.rpc
    paid = []
    for n, claim in enumerate(year.claims):
        assert rpc.claims.claim(claim["claim_id"])["status"] == "paid"
        payouts = rpc.payments.payouts_of_claim(claim["claim_id"])
        expected = [(1, "failed"), (2, "succeeded")] if n == 2 else [(1, "succeeded")]
        assert [(p["attempt"], p["status"]) for p in payouts] == expected
        paid += [p["payout_id"] for p in payouts]
    answer = requests.post(f"{year.bank_url}/query", json={"payout_ids": paid}, timeout=10)
    at_bank = {p["payout_id"]: p["status"] for p in answer.json()["payouts"]}
    assert sorted(at_bank.values()) == ["failed", "succeeded", "succeeded", "succeeded"]
    for n, claim in enumerate(year.claims):  # every claim's SMS, once per event
        expected = {"claim_submitted": 1, "claim_approved": 1, "payout_succeeded": 1}
        if n == 2:
            expected["payout_failed"] = 1

        def texts(c=claim):
            return Counter(m["template"] for m in rpc.notify.about_claim(c["claim_id"]))

        wait_for("the claim's SMS", lambda t=texts, e=expected: set(t()) >= set(e))
        assert {k: texts()[k] for k in expected} == expected, texts()


def check_ledger(year: Year, payments_db: str) -> None:
    engine = make_engine(payments_db)
    try:
        with session_scope(make_session_factory(engine)) as session:
            assert ledger.unbalanced_journals(session) == []
    finally:
        engine.dispose()
    for city in ("zhangjiakou", "quzhou"):
        balances = year.rpc.payments.balances(city)
        assert sum(Decimal(v) for v in balances["accounts"].values()) == 0, balances
    rate = year.outcome["reimbursement"]
    assert Decimal(rate["paid"]) == sum(Decimal(c["payable"]) for c in year.claims)
    assert (
        Decimal(rate["premiums"])
        == sum(Decimal(u.invoice["amount"]) for u in year.units if u.city == "zhangjiakou")
        - SHORT_BY
    )
