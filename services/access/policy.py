"""A service's access table: which role may call which entrypoint, on what scope.

    POLICY = Policy(
        {
            "upload_roster": Rule(CLERKS, scope=application_scope),
            "http_claim": Rule(CLERKS | {CITY_REVIEWER, HELP_DESK}, scope=claim_scope, unmasked={CITY_REVIEWER}),
        }
    )

A rule's `scope(service, arguments)` finds what the call touches (the city, district and
unit of an application, a claim, an upload) or None when it does not exist. The answer to
"not yours" and "does not exist" is the same 403: a clerk learns nothing of another unit's
things. Scope by role (issue 9):
- unit clerk: their own unit (a draft not yet tied to a unit: the one who created it), never
  a whole district (a scope naming a district and no unit);
- district clerk: the units of their district, and the district itself, in their city;
- city reviewer, finance: their city;
- help desk: their city, or every city when the token names none (reads, masked);
- provincial operator: every city, on the rules that list the role (no personal data).
No nameko here: guard.py applies the table; payments plugs its finance routes in the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.access.identity import (
    CITY_REVIEWER,
    DISTRICT_CLERK,
    FINANCE,
    HELP_DESK,
    PROVINCIAL_OPERATOR,
    UNIT_CLERK,
    Identity,
    same_person,
)

CLERKS = frozenset({UNIT_CLERK, DISTRICT_CLERK})
FORBIDDEN = "无权访问，或没有这项记录"


class Forbidden(Exception):
    """403: the role may not call this, or the thing is not within its scope (or absent)."""

    def __init__(self, message: str = FORBIDDEN):
        super().__init__(message)


@dataclass(frozen=True)
class Scope:
    """What a call touches. `owner`: the actor who created a thing not yet tied to a unit."""

    city: str | None = None
    district: str | None = None
    unit: str | None = None
    owner: str | None = None


ScopeOf = Callable[[Any, Mapping[str, Any]], "Scope | None"]


def request_json(arguments: Mapping[str, Any]) -> dict:
    """An HTTP handler's JSON body as a scope function sees it ({} when there is none or it
    is not an object: the handler then answers the input's own error)."""
    request = arguments.get("request")
    if request is None:
        return {}
    try:
        body = json.loads(request.get_data() or b"{}")  # werkzeug keeps the bytes for the handler
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def anywhere(service: Any, arguments: Mapping[str, Any]) -> Scope:
    """Entrypoints that touch no one city's data (the role list alone decides)."""
    return Scope()


@dataclass(frozen=True)
class Rule:
    """`unmasked`: the roles shown personal data in full here; each such read is logged with
    `why` (reads.py)."""

    roles: Collection[str]
    scope: ScopeOf = anywhere
    unmasked: Collection[str] = field(default_factory=frozenset)
    why: str = ""

    def __post_init__(self):
        if self.unmasked and not self.why:
            raise ValueError("a rule that shows personal data in full says why (the access log)")


@dataclass(frozen=True)
class Decision:
    identity: Identity
    scope: Scope
    unmasked: bool
    why: str = ""


class Policy:
    def __init__(self, rules: Mapping[str, Rule]):
        self.rules = dict(rules)

    def check(
        self, entrypoint: str, identity: Identity, service: Any, arguments: Mapping
    ) -> Decision:
        rule = self.rules.get(entrypoint)
        if rule is None or identity.role not in rule.roles:
            raise Forbidden()
        scope = rule.scope(service, arguments)
        if scope is None or not within(identity, scope):
            raise Forbidden()
        return Decision(identity, scope, identity.role in rule.unmasked, rule.why)


def within(identity: Identity, scope: Scope) -> bool:
    role = identity.role
    if scope == Scope() or role == PROVINCIAL_OPERATOR:  # no one's data: the role decides
        return True
    if role == HELP_DESK and identity.city is None:
        return True
    if scope.city is not None and scope.city != identity.city:
        return False
    if role in (CITY_REVIEWER, FINANCE, HELP_DESK):
        return identity.city is not None
    if role == UNIT_CLERK:
        if scope.unit is not None:
            return scope.unit == identity.unit
        if scope.owner is not None:
            return same_person(scope.owner, identity.actor)
        # creating in their own city; a whole district's things are no one unit's
        return scope.city is not None and scope.district is None
    if role == DISTRICT_CLERK:
        if scope.unit is not None or scope.district is not None:  # a unit, or a district
            return identity.district is not None and scope.district == identity.district
        if scope.owner is not None:
            return same_person(scope.owner, identity.actor)
        return scope.city is not None
    return False
