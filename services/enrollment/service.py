"""The enrollment service: a thin nameko class over `applications` (STYLE.md, nameko-examples).

Each entrypoint validates its input (schemas.py), calls one framework-free operation in the
worker's transaction (`self.db.session`), and records events through `self.outbox`; the
transaction commits before the caller hears back, and the events are published after it.

HTTP (for the clerks' browser and the CLI):
    POST /enrollment/applications/<id>/roster?filename=<name>[&append=1]   body: the workbook
        200 {"imported": n, ...} | 422 {"errors": [...], "report": "/enrollment/uploads/<id>/report"}
    GET  /enrollment/uploads/<id>/report                          the error report workbook
    POST /enrollment/applications                {"city", "unit_id", "year", "participants", …}
    GET  /enrollment/applications/<id>           the application, its history, the last failed
        upload's conflicts (the other unit named to a reviewer only)
    GET  /enrollment/applications/<id>/roster    the roster, masked
    POST /enrollment/applications/<id>/submit | /approve | /return {"reason"}
    GET  /enrollment/applications?city=…&year=…[&status=…]
Every route needs a bearer token (services/access); who may call what on which unit is the
table in access.py, checked by the Guard; the recorded actor is the token's person. An RPC
call carrying a person's identity (context data) records that person; one without (another
service, the CLI's scripts on the bus) states its `actor`.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from urllib.parse import quote

from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer
from python_calamine import CalamineWorkbook
from werkzeug.wrappers import Response

from services.access.guard import Guard
from services.enrollment import applications as ops
from services.enrollment import (
    contacts,
    handled_events,
    members,
    organisations,
    schemas,
    uploads,
)
from services.enrollment.access import POLICY, names_other_units
from services.enrollment.exceptions import EnrollmentError, NotFound
from services.enrollment.models import RosterUpload, metadata
from services.enrollment.report import report_data, write_report
from services.enrollment.roster import RosterResult
from services.enrollment.schemas import InvalidRequest, check, load
from services.enrollment.workbook import RosterUnreadable, WorkbookLimits
from services.kernel.errors import PolicyError
from services.kernel.phone import parse_mobile
from services.messaging.dependencies import Database, Outbox
from services.messaging.handlers import event_handler
from services.messaging.idempotency import first_time
from services.messaging.logs import LogContext
from services.messaging.offload import off_hub
from services.messaging.openapi import Route
from services.messaging.web import HttpError, http, read_json
from services.providers import CityPolicies, Clock

EXPECTED = (EnrollmentError, PolicyError, RosterUnreadable)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _application(app) -> dict:
    return {
        "application_id": app.id,
        "unit_id": app.unit_id,
        "city": app.city,
        "year": app.year,
        "status": app.status,
        "participants": app.participants,
        "staff_total": app.staff_total,
        "staff_insured": app.staff_insured,
        "quote": app.quote,
        "returned_reason": app.returned_reason,
        "carried_from": app.carried_from_id,
        "payment": ops.payment_status(app),
        "paid_amount": None if app.paid_amount is None else f"{app.paid_amount:.2f}",
    }


class EnrollmentService:
    name = "enrollment"

    db = Database(metadata())
    outbox = Outbox()
    policies = CityPolicies()
    today = Clock()
    config = Config()
    log_context = LogContext()
    access = Guard(POLICY)
    http_errors = {NotFound: 404, EnrollmentError: 422, PolicyError: 422, RosterUnreadable: 422}
    # what each HTTP route takes, for the OpenAPI document (services/messaging/openapi.py)
    http_docs = {
        "upload_roster": Route(
            "导入参保职工名册（工作簿即请求体）",
            XLSX,
            query={"filename": "文件名（.xlsx / .xls / .ods）", "append": "1：追加到已导入的名册"},
        ),
        "download_report": Route("下载名册错误报告（工作簿）"),
        "http_open_application": Route(
            "填写团体申请表（开启本年度申请）", schemas.OpenApplicationBody, created=True
        ),
        "http_list_applications": Route(
            "本单位或本市的申请", query={"city": "城市", "year": "年度", "status": "状态"}
        ),
        "http_application": Route("查看申请"),
        "http_roster": Route("查看名册（证件号、电话按权限遮蔽）"),
        "http_submit": Route("提交申请"),
        "http_approve": Route("审核通过（审核人不能是提交人）"),
        "http_return": Route("退回申请，说明原因", schemas.ReturnBody),
    }

    # ---- units and applications ---------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def register_unit(self, city: str, year: int, unit: dict) -> dict:
        check(schemas.RegisterUnitArgs, "登记单位", city=city, year=year, unit=unit)
        fields = load(schemas.UnitSchema, unit, "unit")
        created = ops.register_unit(self.db.session, self.policies.get(city), year=year, **fields)
        return {
            "unit_id": created.id,
            "city": created.city,
            "unit_key": created.unit_key,
            "district": created.district,
            "organisation_id": created.organisation_id,
        }

    @rpc(expected_exceptions=EXPECTED)
    def register_organisation(self, city: str, year: int, organisation: dict) -> dict:
        """The city union, or a district / town / system union under another (organisations.py)."""
        check(
            schemas.RegisterOrganisationArgs,
            "登记组织",
            city=city,
            year=year,
            organisation=organisation,
        )
        fields = load(schemas.OrganisationSchema, organisation, "organisation")
        created = organisations.register_organisation(
            self.db.session, self.policies.get(city), year=year, **fields
        )
        return {
            "organisation_id": created.id,
            "city": created.city,
            "kind": created.kind,
            "name": created.name,
            "district": created.district,
            "parent_id": created.parent_id,
        }

    @rpc(expected_exceptions=EXPECTED)
    def organisation_units(self, organisation_id: str) -> list[dict]:
        """The units of an organisation and of every union below it."""
        check(schemas.OrganisationArgs, "查询", organisation_id=organisation_id)
        return organisations.organisation_units(self.db.session, organisation_id=organisation_id)

    @rpc(expected_exceptions=EXPECTED)
    def district_units(self, city: str, district: str) -> list[dict]:
        """The units of a district, by name (a district clerk's choice of unit; access.py
        keeps them to their own district)."""
        check(schemas.DistrictUnitsArgs, "查询", city=city, district=district)
        return organisations.district_units(self.db.session, city=city, district=district)

    @rpc(expected_exceptions=EXPECTED)
    def organisation_actuals(self, city: str, year: int) -> list[dict]:
        """Units and members enrolled per organisation, each with its subtree's (the actuals
        of Keqiao's enrolment targets, by the organisation's name)."""
        check(schemas.OrganisationActualsArgs, "查询", city=city, year=year)
        return organisations.organisation_actuals(self.db.session, city=city, year=year)

    @rpc(expected_exceptions=EXPECTED)
    def open_application(self, city: str, application: dict, actor: str | None = None) -> dict:
        actor = self.access.actor(actor)
        check(
            schemas.OpenApplicationArgs, "申请表", city=city, application=application, actor=actor
        )
        fields = load(schemas.OpenApplicationSchema, application, "application")
        app = ops.open_application(self.db.session, self.policies.get(city), actor=actor, **fields)
        return _application(app)

    @rpc(expected_exceptions=EXPECTED)
    def update_application(
        self, application_id: str, changes: dict, actor: str | None = None
    ) -> dict:
        actor = self.access.actor(actor)
        check(
            schemas.UpdateApplicationArgs,
            "修改",
            application_id=application_id,
            changes=changes,
            actor=actor,
        )
        fields = load(schemas.UpdateApplicationSchema, changes, "changes")
        return _application(
            ops.update_application(self.db.session, application_id, actor=actor, **fields)
        )

    @rpc(expected_exceptions=EXPECTED)
    def application(self, application_id: str) -> dict:
        check(schemas.ApplicationArgs, "查询", application_id=application_id)
        session = self.db.session
        application = ops.get_application(session, application_id)
        data = _application(application)
        data["unit_name"] = application.unit.name  # payments' invoice names the unit in full
        data["roster_rows"] = ops.roster_count(session, application_id)
        data["history"] = ops.history(session, application_id=application_id)
        data["last_failed_upload"] = uploads.last_failed_upload(
            session,
            application_id=application_id,
            name_other_units=names_other_units(self.access.identity),
        )
        return data

    @rpc(expected_exceptions=EXPECTED)
    def list_applications(self, city: str, year: int, status: str | None = None) -> list[dict]:
        check(schemas.ListApplicationsArgs, "查询", city=city, year=year, status=status)
        return ops.list_applications(self.db.session, city=city, year=year, status=status)

    @rpc(expected_exceptions=EXPECTED)
    def roster(self, application_id: str) -> list[dict]:
        """The roster with ID numbers and phones masked."""
        check(schemas.ApplicationArgs, "查询", application_id=application_id)
        return ops.roster_listing(self.db.session, application_id=application_id)

    @event_handler("payments", "premium_paid")
    def on_premium_paid(self, payload: dict) -> None:
        """Paid / unpaid on the application, from payments' premium_paid."""
        event = handled_events.premium_paid(payload)
        session = self.db.session
        if event["application_id"] is None:
            return  # a member's own payment (Wujin): the member's, not an application's
        if first_time(session, "enrollment.on_premium_paid", event["event_id"]):
            ops.record_premium_paid(session, event=event, actor="system:payments")

    # ---- rosters --------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def import_roster(
        self,
        application_id: str,
        filename: str,
        content_base64: str,
        actor: str | None = None,
        append: bool = False,
    ) -> dict:
        """Import a roster file (base64: RPC travels as JSON), replacing the roster or, with
        `append`, adding joiners to it; with any error nothing is stored and `report` names
        the upload whose error workbook `GET /enrollment/uploads/<id>/report` returns."""
        actor = self.access.actor(actor)
        self._check_import(application_id, filename, actor, append)
        try:
            content = base64.b64decode(content_base64, validate=True)
        except (TypeError, ValueError):
            raise InvalidRequest("content_base64 不是有效的 base64 文本") from None
        return self._import(application_id, filename, content, actor, append)

    @staticmethod
    def _check_import(application_id: str, filename: str, actor: str, append: bool) -> None:
        check(
            schemas.ImportRosterArgs,
            "名册上传",
            application_id=application_id,
            filename=filename,
            actor=actor,
            append=append,
        )

    def _import(
        self, application_id: str, filename: str, content: bytes, actor: str, append: bool
    ) -> dict:
        session = self.db.session
        app = ops.get_application(session, application_id)
        policy = self.policies.get(app.city)
        limits = WorkbookLimits.from_config(self.config.get("WORKBOOK_LIMITS"))
        written: list[bytes] = []

        def report(book, result) -> None:  # from the workbook the check opened (issue 14)
            written.append(off_hub(lambda _: _report_bytes(book, result)))

        result = ops.import_roster(
            session,
            policy,
            application_id=application_id,
            data=content,
            filename=filename,
            actor=actor,
            append=append,
            today=self.today(),
            limits=limits,
            report=report,
        )
        answer = report_data(result)
        answer["imported"] = len(result.members)
        if not result.importable or result.warnings:
            # kept with the upload: which unit holds each conflicting person, for a reviewer
            conflicts = [
                {"row": i.row, "unit": i.other_unit} for i in result.errors if i.other_unit
            ]
            upload = RosterUpload(
                application_id=application_id,
                filename=filename,
                actor=actor,
                result={**answer, "conflicts": conflicts},
                report=written[0],
            )
            session.add(upload)
            session.flush()
            answer["upload_id"] = upload.id
            answer["report"] = f"/enrollment/uploads/{upload.id}/report"
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def remove_members(
        self, application_id: str, id_numbers: list[str], actor: str | None = None
    ) -> dict:
        actor = self.access.actor(actor)
        check(
            schemas.RemoveMembersArgs,
            "减员",
            application_id=application_id,
            id_numbers=id_numbers,
            actor=actor,
        )
        removed = ops.remove_members(
            self.db.session, application_id=application_id, id_numbers=id_numbers, actor=actor
        )
        return {"removed": removed}

    @rpc(expected_exceptions=EXPECTED)
    def carry_over(
        self,
        application_id: str,
        to_year: int,
        actor: str | None = None,
        leavers: list[str] | None = None,
    ) -> dict:
        actor = self.access.actor(actor)
        check(
            schemas.CarryOverArgs,
            "续保",
            application_id=application_id,
            to_year=to_year,
            actor=actor,
            leavers=leavers,
        )
        session = self.db.session
        app = ops.get_application(session, application_id)
        moved = ops.carry_over(
            session,
            self.policies.get(app.city),
            application_id=application_id,
            to_year=to_year,
            actor=actor,
            leavers=leavers or (),
        )
        return {
            **_application(moved.application),
            "carried": moved.carried,
            "left_out": list(moved.left_out),
        }

    # ---- workflow -------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def submit(self, application_id: str, actor: str | None = None) -> dict:
        actor = self.access.actor(actor)
        check(schemas.ActionArgs, "提交", application_id=application_id, actor=actor)
        session = self.db.session
        app = ops.get_application(session, application_id)
        app = ops.submit(
            session,
            self.policies.get(app.city),
            application_id=application_id,
            actor=actor,
            today=self.today(),
            record=self.outbox.record,
        )
        return _application(app)

    @rpc(expected_exceptions=EXPECTED)
    def return_application(
        self, application_id: str, actor: str | None = None, reason: str | None = None
    ) -> dict:
        actor = self.access.actor(actor)
        check(schemas.ReturnArgs, "退回", application_id=application_id, actor=actor, reason=reason)
        app = ops.return_application(
            self.db.session,
            application_id=application_id,
            actor=actor,
            reason=reason,
            record=self.outbox.record,
        )
        return _application(app)

    @rpc(expected_exceptions=EXPECTED)
    def approve(self, application_id: str, actor: str | None = None) -> dict:
        actor = self.access.actor(actor)
        check(schemas.ActionArgs, "审核", application_id=application_id, actor=actor)
        session = self.db.session
        app = ops.get_application(session, application_id)
        app = ops.approve(
            session,
            self.policies.get(app.city),
            application_id=application_id,
            actor=actor,
            record=self.outbox.record,
        )
        return _application(app)

    # ---- for claims -----------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def cover(self, city: str, id_number: str, on_date: str) -> dict | None:
        """Is this person covered in `city` on `on_date` (ISO), under which unit and application?"""
        day = check(schemas.CoverArgs, "查询", city=city, id_number=id_number, on_date=on_date)[
            "on_date"
        ]
        return ops.cover(self.db.session, city=city, id_number=id_number, on_date=day)

    # ---- for the help desk -----------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def members_by_phone(self, city: str, phone: str) -> list[dict]:
        """The members of ``city`` whose phone is ``phone``, one row per year enrolled: their
        id (to ask claims for their claims), name, masked ID number, unit and year."""
        args = check(schemas.MembersByPhoneArgs, "查询", city=city, phone=phone)
        number = parse_mobile(args["phone"]).number
        return members.members_by_phone(self.db.session, city=city, phone=number)

    # ---- personal data kept no longer than needed -------------------------------------------

    @timer(interval=3600)
    def purge_failed_uploads(self) -> int:
        """Failed roster uploads (their reports hold full ID numbers) go after
        ROSTER_UPLOAD_KEEP_DAYS days (uploads.py)."""
        days = uploads.keep_days(self.config)
        return uploads.purge_failed_uploads(self.db.session, today=self.today(), days=days)

    # ---- for notify (full phones: it sends to them) ---------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def notice_recipients(self, application_id: str) -> dict:
        check(schemas.ApplicationArgs, "查询", application_id=application_id)
        return contacts.notice_recipients(self.db.session, application_id)

    @rpc(expected_exceptions=EXPECTED)
    def unit_contact(self, unit_id: str) -> dict:
        return contacts.unit_contact(self.db.session, str(unit_id))

    @rpc(expected_exceptions=EXPECTED)
    def member_contact(self, member_id: str) -> dict:
        return contacts.member_contact(self.db.session, str(member_id))

    # ---- HTTP -----------------------------------------------------------------------------

    @http("POST", "/enrollment/applications/<string:application_id>/roster")
    def upload_roster(self, request, application_id: str):
        filename = request.args.get("filename") or "roster.xlsx"
        append = request.args.get("append", "") in ("1", "true", "yes")
        self._check_import(application_id, filename, request.actor, append)
        answer = self._import(application_id, filename, request.get_data(), request.actor, append)
        return 200 if not answer["errors"] else 422, answer

    @http("POST", "/enrollment/applications")
    def http_open_application(self, request):
        body = read_json(request)
        load(schemas.OpenApplicationBody, body, "申请")  # every key, the city among them
        application = {key: value for key, value in body.items() if key != "city"}
        return 201, self.open_application(body["city"], application, request.actor)

    @http("GET", "/enrollment/applications")
    def http_list_applications(self, request):
        year = request.args.get("year", "")
        return self.list_applications(
            request.args.get("city"),
            int(year) if year.isdigit() else year,
            request.args.get("status"),
        )

    @http("GET", "/enrollment/applications/<string:application_id>")
    def http_application(self, request, application_id: str):
        return self.application(application_id)

    @http("GET", "/enrollment/applications/<string:application_id>/roster")
    def http_roster(self, request, application_id: str):
        return self.roster(application_id)

    @http("POST", "/enrollment/applications/<string:application_id>/submit")
    def http_submit(self, request, application_id: str):
        return self.submit(application_id, request.actor)

    @http("POST", "/enrollment/applications/<string:application_id>/approve")
    def http_approve(self, request, application_id: str):
        return self.approve(application_id, request.actor)

    @http("POST", "/enrollment/applications/<string:application_id>/return")
    def http_return(self, request, application_id: str):
        body = load(schemas.ReturnBody, read_json(request), "退回")
        return self.return_application(application_id, request.actor, body["reason"])

    @http("GET", "/enrollment/uploads/<string:upload_id>/report")
    def download_report(self, request, upload_id: str):
        check(schemas.UploadArgs, "查询", upload_id=upload_id)
        upload = self.db.session.get(RosterUpload, upload_id)
        if upload is None or upload.report is None:
            raise HttpError(404, f"没有上传记录 {upload_id} 的错误报告")
        name = Path(upload.filename).stem + "-错误报告.xlsx"
        return Response(
            upload.report,
            status=200,
            mimetype=XLSX,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
        )


def _report_bytes(book: CalamineWorkbook, result: RosterResult) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return write_report(book, result, Path(folder) / "report.xlsx").read_bytes()
