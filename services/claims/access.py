"""Who may call which claims entrypoint, on what scope: the service's one access table
(services/access/policy.py; checked by the Guard before a worker runs, HTTP always, RPC when
the call carries a person's identity)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.access.identity import CITY_REVIEWER, FINANCE, HELP_DESK, PROVINCIAL_OPERATOR
from services.access.policy import CLERKS, Policy, Rule, Scope, request_json
from services.claims.models import Claim


def claim_scope(service: Any, arguments: Mapping) -> Scope | None:
    """A claim's unit once submitted (cover names it); before that, the clerk who made it.
    The district is not on the claim: a district clerk reaches it through the unit's clerk."""
    claim = service.db.session.get(Claim, arguments.get("claim_id") or "")
    if claim is None:
        return None
    if claim.unit_id is None:
        return Scope(city=claim.city, owner=claim.created_by)
    return Scope(city=claim.city, unit=claim.unit_id)


def city_scope(service: Any, arguments: Mapping) -> Scope | None:
    city = arguments.get("city")
    if city is None:  # POST /claims: the body names the city
        city = request_json(arguments).get("city")
    return Scope(city=city) if isinstance(city, str) else None


REVIEW = {CITY_REVIEWER}
REVIEWING = "审核补助申请：核对成员身份证号"
READERS = CLERKS | REVIEW | {HELP_DESK}

POLICY = Policy(
    {
        # HTTP
        "http_create": Rule(CLERKS, city_scope),
        "http_attach": Rule(CLERKS, claim_scope),
        "http_submit": Rule(CLERKS, claim_scope),
        "http_update": Rule(CLERKS, claim_scope),
        "http_remove_attachment": Rule(CLERKS, claim_scope),
        # one claim read in full by its reviewer (the ID number on it); the rest masked
        "http_claim": Rule(READERS, claim_scope, unmasked=REVIEW, why=REVIEWING),
        "http_approve": Rule(REVIEW, claim_scope),
        "http_return": Rule(REVIEW, claim_scope),
        "http_reject": Rule(REVIEW, claim_scope),
        # RPC, when a person calls
        "create_claim": Rule(CLERKS, city_scope),
        "add_attachment": Rule(CLERKS, claim_scope),
        "submit": Rule(CLERKS, claim_scope),
        "update_claim": Rule(CLERKS, claim_scope),
        "remove_attachment": Rule(CLERKS, claim_scope),
        "approve": Rule(REVIEW, claim_scope),
        "return_claim": Rule(REVIEW, claim_scope),
        "reject": Rule(REVIEW, claim_scope),
        "claim": Rule(READERS, claim_scope, unmasked=REVIEW, why=REVIEWING),
        "review_queue": Rule(REVIEW | {HELP_DESK}, city_scope),
        "list_claims": Rule(REVIEW | {HELP_DESK, PROVINCIAL_OPERATOR}, city_scope),
        "retry_payout": Rule(REVIEW | {FINANCE}, claim_scope),
        "raise_clawback": Rule(REVIEW, claim_scope),
        "import_settlements": Rule(REVIEW, city_scope),
        "statistics": Rule(REVIEW | {FINANCE, PROVINCIAL_OPERATOR}, city_scope),
    }
)
