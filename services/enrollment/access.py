"""Who may call which enrollment entrypoint, on what scope: the service's one access table
(services/access/policy.py; checked by the Guard before a worker runs, HTTP always, RPC when
the call carries a person's identity)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.access.identity import (
    CITY_REVIEWER,
    DISTRICT_CLERK,
    HELP_DESK,
    PROVINCIAL_OPERATOR,
    Identity,
)
from services.access.policy import CLERKS, Policy, Rule, Scope, request_json
from services.enrollment.models import Application, RosterUpload, Unit


def _unit_scope(session, unit_id: str | None) -> Scope | None:
    unit = session.get(Unit, unit_id) if unit_id else None
    return None if unit is None else Scope(city=unit.city, district=unit.district, unit=unit.id)


def application_scope(service: Any, arguments: Mapping) -> Scope | None:
    session = service.db.session
    app = session.get(Application, arguments.get("application_id") or "")
    return None if app is None else _unit_scope(session, app.unit_id)


def upload_scope(service: Any, arguments: Mapping) -> Scope | None:
    session = service.db.session
    upload = session.get(RosterUpload, arguments.get("upload_id") or "")
    if upload is None:
        return None
    return application_scope(service, {"application_id": upload.application_id})


def new_application_scope(service: Any, arguments: Mapping) -> Scope | None:
    """The unit an application is opened for (RPC's `application`, or the POST body)."""
    body = request_json(arguments)
    application = arguments.get("application", body)
    city = arguments.get("city", body.get("city"))
    unit_id = application.get("unit_id") if isinstance(application, dict) else None
    scope = _unit_scope(service.db.session, unit_id if isinstance(unit_id, str) else None)
    return scope if scope is None or scope.city == city else None


def city_scope(service: Any, arguments: Mapping) -> Scope | None:
    """RPC's `city`, or GET's ?city=."""
    city = arguments.get("city")
    if city is None and "request" in arguments:
        city = arguments["request"].args.get("city")
    return Scope(city=city) if isinstance(city, str) else None


def district_scope(service: Any, arguments: Mapping) -> Scope | None:
    """A district's units listed (district_units): the city and district named; a district
    clerk reaches their own district only, a reviewer or help desk their city's."""
    city, district = arguments.get("city"), arguments.get("district")
    if not isinstance(city, str) or not isinstance(district, str):
        return None
    return Scope(city=city, district=district)


CLERK_WORK = CLERKS
READERS = CLERKS | {CITY_REVIEWER, HELP_DESK}
REVIEW = {CITY_REVIEWER}

POLICY = Policy(
    {
        # HTTP
        "upload_roster": Rule(CLERK_WORK, application_scope),
        # the error report holds the file's full numbers: for those who uploaded or review it
        "download_report": Rule(
            CLERKS | REVIEW,
            upload_scope,
            unmasked=CLERKS | REVIEW,
            why="名册错误报告：按行改正上传的名册",
        ),
        "http_open_application": Rule(CLERK_WORK, new_application_scope),
        "http_application": Rule(READERS, application_scope),
        "http_roster": Rule(READERS, application_scope),
        "http_submit": Rule(CLERK_WORK, application_scope),
        "http_approve": Rule(REVIEW, application_scope),
        "http_return": Rule(REVIEW, application_scope),
        "http_list_applications": Rule(REVIEW | {HELP_DESK, PROVINCIAL_OPERATOR}, city_scope),
        # RPC, when a person calls
        "open_application": Rule(CLERK_WORK, new_application_scope),
        "update_application": Rule(CLERK_WORK, application_scope),
        "import_roster": Rule(CLERK_WORK, application_scope),
        "remove_members": Rule(CLERK_WORK, application_scope),
        "carry_over": Rule(CLERK_WORK, application_scope),
        "submit": Rule(CLERK_WORK, application_scope),
        "return_application": Rule(REVIEW, application_scope),
        "approve": Rule(REVIEW, application_scope),
        "application": Rule(READERS, application_scope),
        "roster": Rule(READERS, application_scope),
        "list_applications": Rule(REVIEW | {HELP_DESK, PROVINCIAL_OPERATOR}, city_scope),
        # the help desk's look-up by phone: the city's members at that number, ID numbers
        # masked (members.py); a clerk finds a member on their unit's roster
        "members_by_phone": Rule({HELP_DESK}, city_scope),
        # names and keys of units, no one's personal data; a unit clerk has only their own
        "district_units": Rule({DISTRICT_CLERK} | REVIEW | {HELP_DESK}, district_scope),
    }
)
"""Unit and district clerks work on their units' applications; the city reviewer reviews
them; help desk reads (masked); the provincial operator sees lists, no rosters."""


def names_other_units(identity: Identity | None) -> bool:
    """Roster conflicts name the unit that already enrolled the person only to a reviewer
    (and to the bus itself: the CLI's operator); a clerk learns only that it is another."""
    return identity is None or identity.role in REVIEW
