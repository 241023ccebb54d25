"""Who may call which payments entrypoint, on what scope: the service's one access table
(services/access/policy.py; checked by the Guard before a worker runs, RPC when the call
carries a person's identity). A finance person works on their own city's money; other roles
are refused. Calls without a person (other services, the demo, a script on the bus) are the
bus's own and not checked here; the bank's callbacks are authenticated by signature."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.access.identity import FINANCE
from services.access.policy import Policy, Rule, Scope
from services.payments.models import Receipt, Resolution
from services.payments.receipts import city_of_account


def city_scope(service: Any, arguments: Mapping) -> Scope | None:
    city = arguments.get("city")
    return Scope(city=city) if isinstance(city, str) and city else None


def _receipt_city(session, receipt_id: Any) -> Scope | None:
    receipt = session.get(Receipt, receipt_id) if isinstance(receipt_id, str) else None
    # money that arrived in an account nobody knows belongs to no one city's finance
    return None if receipt is None or not receipt.city else Scope(city=receipt.city)


def receipt_scope(service: Any, arguments: Mapping) -> Scope | None:
    return _receipt_city(service.db.session, arguments.get("receipt_id"))


def resolution_scope(service: Any, arguments: Mapping) -> Scope | None:
    session = service.db.session
    resolution_id = arguments.get("resolution_id")
    resolution = session.get(Resolution, resolution_id) if isinstance(resolution_id, str) else None
    return None if resolution is None else _receipt_city(session, resolution.receipt_id)


def account_scope(service: Any, arguments: Mapping) -> Scope | None:
    """A fund account's city, from the invoices or the ledger that name it."""
    account = arguments.get("account")
    if not isinstance(account, str) or not account:
        return None
    city = city_of_account(service.db.session, account)
    return None if city is None else Scope(city=city)


DESK = {FINANCE}

POLICY = Policy(
    {
        # RPC, when a person calls (the console's finance pages)
        "held": Rule(DESK, city_scope),
        "resolve_apply": Rule(DESK, receipt_scope),
        "propose_refund": Rule(DESK, receipt_scope),
        "approve_refund": Rule(DESK, resolution_scope),
        "decline_refund": Rule(DESK, resolution_scope),
        "list_payouts": Rule(DESK, city_scope),
        "failed_payouts": Rule(DESK, city_scope),
        "balances": Rule(DESK, city_scope),
        "reconcile_statement": Rule(DESK, account_scope),
    }
)
