"""Who may call which claims entrypoint, on what scope: the service's one access table
(services/access/policy.py; checked by the Guard before a worker runs, HTTP always, RPC when
the call carries a person's identity)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.access.identity import (
    CITY_REVIEWER,
    FINANCE,
    HELP_DESK,
    PROVINCIAL_OPERATOR,
    Identity,
)
from services.access.policy import (
    CLERKS,
    Forbidden,
    Policy,
    Rule,
    Scope,
    request_json,
    within,
)
from services.claims.models import Claim


def claim_scope(service: Any, arguments: Mapping) -> Scope | None:
    """A claim's unit and its district once cover named them (at creation when the facts
    give the date that counts, else at submission); before that, the clerk who made it."""
    claim = service.db.session.get(Claim, arguments.get("claim_id") or "")
    if claim is None:
        return None
    if claim.unit_id is None:
        return Scope(city=claim.city, owner=claim.created_by)
    return Scope(city=claim.city, district=claim.district, unit=claim.unit_id)


def admit_cover(identity: Identity | None, covered: Mapping | None) -> None:
    """A clerk creates and submits claims only for members their own unit (a district clerk:
    their district's units) covers: another unit's member is refused with the same 403 as
    anything not theirs, before anything is stored. A caller without a token (the bus) and a
    person nobody covers (submit says so) pass."""
    if identity is None or covered is None:
        return
    scope = Scope(
        city=covered.get("city"), district=covered.get("district"), unit=covered.get("unit_id")
    )
    if not within(identity, scope):
        raise Forbidden()


def city_scope(service: Any, arguments: Mapping) -> Scope | None:
    city = arguments.get("city")
    if city is None:  # POST /claims: the body names the city
        city = request_json(arguments).get("city")
    return Scope(city=city) if isinstance(city, str) else None


def unit_scope(service: Any, arguments: Mapping) -> Scope | None:
    """A unit's claims listed (unit_claims): the unit named, in the district named. The listing
    keeps to both, so a district clerk naming another district's unit with their own district
    is shown none of it, and one naming no district is refused as any other clerk's unit."""
    city, unit, district = (arguments.get(k) for k in ("city", "unit_id", "district"))
    if not isinstance(city, str) or not isinstance(unit, str):
        return None
    return Scope(city=city, district=district if isinstance(district, str) else None, unit=unit)


REVIEW = {CITY_REVIEWER}
REVIEWING = "审核补助申请：核对成员身份证号"
READERS = CLERKS | REVIEW | {HELP_DESK}
# a document's file (出院小结, 诊断证明, ID card photo): medical and personal data in full, to
# the claim's unit's clerks and the city's reviewers only, each read in the access log
VIEWING = "查看理赔材料原件（医疗单据、证件）"

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
        "attachment": Rule(CLERKS | REVIEW, claim_scope, unmasked=CLERKS | REVIEW, why=VIEWING),
        "review_queue": Rule(REVIEW | {HELP_DESK}, city_scope),
        "unit_claims": Rule(READERS, unit_scope),
        # a member's claims found by their phone (enrollment's members_by_phone), masked
        "member_claims": Rule({HELP_DESK}, city_scope),
        "list_claims": Rule(REVIEW | {HELP_DESK, PROVINCIAL_OPERATOR}, city_scope),
        "retry_payout": Rule(REVIEW | {FINANCE}, claim_scope),
        "raise_clawback": Rule(REVIEW, claim_scope),
        "import_settlements": Rule(REVIEW, city_scope),
        "statistics": Rule(REVIEW | {FINANCE, PROVINCIAL_OPERATOR}, city_scope),
    }
)
