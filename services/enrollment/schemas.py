"""marshmallow at the enrollment service's edge: one schema per RPC method's arguments and per
HTTP request, so anything a caller can send is refused with one Chinese line naming the field
(InvalidRequest: 422 over HTTP) before it reaches the database.

Unknown keys are refused (a misspelt field is a mistake, not something to drop). Text
lengths are the columns' (services/enrollment/models.py), messages and the text field the
kernel's (services/kernel/schemas.py).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields

from services.enrollment.exceptions import EnrollmentError
from services.enrollment.models import (
    Application,
    ApplicationTransition,
    Member,
    Organisation,
    RosterUpload,
    Unit,
)
from services.enrollment.organisations import KINDS
from services.kernel.phone import parse_mobile
from services.kernel.policy import NATURES
from services.kernel.schemas import (
    OneOf,
    Range,
    Strict,
    Text,
    length_of,
    load_or_raise,
    resident_id,
)


class InvalidRequest(EnrollmentError):
    pass


# ---- the fields every method shares ----------------------------------------------------------

REASON_LENGTH = 2000  # a reason is a Text column: long enough for a paragraph, not a file
# far above any unit's staff, far below PostgreSQL's integer (2 147 483 647)
MAX_COUNT = 10_000_000
_count = {"strict": True, "validate": Range(min=0, max=MAX_COUNT)}


def record_id(column: Any = Application.id, **kwargs: Any) -> Text:
    return Text(length_of(column), required=True, **kwargs)


def actor() -> Text:
    return Text(length_of(ApplicationTransition.actor), required=True)


def city() -> Text:
    return Text(length_of(Application.city), required=True)


def year(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=Range(min=2000, max=2100), **kwargs)


def _text(column: Any) -> Text:
    return Text(length_of(column), load_default=None)


# ---- units and organisations -----------------------------------------------------------------


class UnitSchema(Strict):
    unit_key = Text(length_of(Unit.unit_key), required=True)
    name = Text(length_of(Unit.name), required=True)
    organisation_id = _text(Unit.organisation_id)
    district = _text(Unit.district)
    nature = fields.String(load_default="public", validate=OneOf(NATURES))
    address = _text(Unit.address)
    chair = _text(Unit.chair)
    chair_phone = _text(Unit.chair_phone)
    contact = _text(Unit.contact)
    contact_phone = _text(Unit.contact_phone)
    staff_total = fields.Integer(load_default=None, **_count)
    staff_insured = fields.Integer(load_default=None, **_count)


class RegisterUnitArgs(Strict):
    city = city()
    year = year(required=True)
    unit = fields.Dict(required=True)  # read by UnitSchema, errors named "unit …"


class OrganisationSchema(Strict):
    kind = fields.String(required=True, validate=OneOf(KINDS))
    name = Text(length_of(Organisation.name), required=True)
    district = _text(Organisation.district)
    parent_id = _text(Organisation.parent_id)


class RegisterOrganisationArgs(Strict):
    city = city()
    year = year(required=True)
    organisation = fields.Dict(required=True)


class OrganisationArgs(Strict):
    organisation_id = record_id(Organisation.id)


class OrganisationActualsArgs(Strict):
    city = city()
    year = year(required=True)


class DistrictUnitsArgs(Strict):
    city = city()
    district = Text(length_of(Unit.district), required=True)


# ---- applications ----------------------------------------------------------------------------


class OpenApplicationSchema(Strict):
    unit_id = record_id(Unit.id)
    year = year(required=True)
    participants = fields.Integer(required=True, **_count)
    staff_total = fields.Integer(load_default=None, **_count)
    staff_insured = fields.Integer(load_default=None, **_count)


class OpenApplicationBody(OpenApplicationSchema):
    """The body of POST /enrollment/applications: the application and its city."""

    city = city()


class OpenApplicationArgs(Strict):
    city = city()
    application = fields.Dict(required=True)
    actor = actor()


class UpdateApplicationSchema(Strict):
    participants = fields.Integer(**_count)
    staff_total = fields.Integer(**_count)
    staff_insured = fields.Integer(**_count)


class UpdateApplicationArgs(Strict):
    application_id = record_id()
    changes = fields.Dict(required=True)
    actor = actor()


class ApplicationArgs(Strict):
    """application and roster: one application named by its id."""

    application_id = record_id()


class ListApplicationsArgs(Strict):
    city = city()
    year = year(required=True)
    status = Text(length_of(Application.status), load_default=None)


class ImportRosterArgs(Strict):
    """import_roster over RPC, and the roster upload over HTTP (the file is the body)."""

    application_id = record_id()
    filename = Text(length_of(RosterUpload.filename), required=True)
    actor = Text(length_of(RosterUpload.actor), required=True)
    append = fields.Boolean(truthy={True}, falsy={False}, load_default=False)


class RemoveMembersArgs(Strict):
    application_id = record_id()
    id_numbers = fields.List(resident_id(), required=True)
    actor = actor()


class CarryOverArgs(Strict):
    application_id = record_id()
    to_year = year(required=True)
    actor = actor()
    leavers = fields.List(resident_id(), load_default=None)


class ActionArgs(Strict):
    """submit and approve: an application and who does it."""

    application_id = record_id()
    actor = actor()


class ReturnArgs(ActionArgs):
    reason = Text(REASON_LENGTH, multiline=True, required=True)


class ReturnBody(Strict):
    """The body of POST /enrollment/applications/<id>/return."""

    reason = Text(REASON_LENGTH, multiline=True, required=True)


class CoverArgs(Strict):
    city = city()
    id_number = resident_id(required=True)
    on_date = fields.Date(required=True)


class UploadArgs(Strict):
    upload_id = record_id(RosterUpload.id)


def _mobile(value: str) -> None:
    if not parse_mobile(value).valid:  # not echoed: it may be most of someone's number
        raise ValidationError("应为以 1 开头的 11 位手机号码")


class MembersByPhoneArgs(Strict):
    city = city()
    phone = Text(length_of(Member.phone), required=True, validate=_mobile)


def load(schema: type[Schema] | Schema, data: object, what: str) -> dict:
    """``data`` through ``schema``; InvalidRequest naming each wrong field otherwise."""
    return load_or_raise(
        schema() if isinstance(schema, type) else schema, data, what, InvalidRequest
    )


def check(schema: type[Schema], what: str, /, **arguments: Any) -> dict:
    """An RPC method's arguments through its schema (``what`` names the action in the message)."""
    return load(schema, arguments, what)
