"""The enrollment service: a thin nameko class over `applications` (STYLE.md, nameko-examples).

Each entrypoint validates its input (schemas.py), calls one framework-free operation in the
worker's transaction (`self.db.session`), and records events through `self.outbox`; the
transaction commits before the caller hears back, and the events are published after it.

HTTP (for the clerks' browser and the CLI):
    POST /enrollment/applications/<id>/roster?filename=<name>[&append=1]   body: the workbook
        200 {"imported": n, ...} | 422 {"errors": [...], "report": "/enrollment/uploads/<id>/report"}
    GET  /enrollment/uploads/<id>/report                          the error report workbook
The caller is named by the X-Actor header until real authentication sits in front of it
(a gateway's job; the seeds' "password = the handler's name" is what we replace).
"""

from __future__ import annotations

import base64
import tempfile
from datetime import date
from pathlib import Path
from urllib.parse import quote

from nameko.rpc import rpc
from werkzeug.wrappers import Response

from services.enrollment import applications as ops
from services.enrollment.exceptions import EnrollmentError, NotFound
from services.enrollment.models import RosterUpload, metadata
from services.enrollment.report import report_data, write_report
from services.enrollment.roster import RosterResult
from services.enrollment.schemas import (
    InvalidRequest,
    OpenApplicationSchema,
    UnitSchema,
    UpdateApplicationSchema,
    load,
)
from services.enrollment.workbook import RosterUnreadable
from services.kernel.errors import PolicyError
from services.messaging.dependencies import Database, Outbox
from services.messaging.logs import LogContext
from services.messaging.web import HttpError, http
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
    }


class EnrollmentService:
    name = "enrollment"

    db = Database(metadata())
    outbox = Outbox()
    policies = CityPolicies()
    today = Clock()
    log_context = LogContext()
    http_errors = {NotFound: 404, EnrollmentError: 422, PolicyError: 422, RosterUnreadable: 422}

    # ---- units and applications ---------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def register_unit(self, city: str, year: int, unit: dict) -> dict:
        fields = load(UnitSchema(), unit, "unit")
        created = ops.register_unit(self.db.session, self.policies.get(city), year=year, **fields)
        return {
            "unit_id": created.id,
            "city": created.city,
            "unit_key": created.unit_key,
            "district": created.district,
        }

    @rpc(expected_exceptions=EXPECTED)
    def open_application(self, city: str, application: dict, actor: str) -> dict:
        fields = load(OpenApplicationSchema(), application, "application")
        app = ops.open_application(self.db.session, self.policies.get(city), actor=actor, **fields)
        return _application(app)

    @rpc(expected_exceptions=EXPECTED)
    def update_application(self, application_id: str, changes: dict, actor: str) -> dict:
        fields = load(UpdateApplicationSchema(), changes, "changes")
        return _application(
            ops.update_application(self.db.session, application_id, actor=actor, **fields)
        )

    @rpc(expected_exceptions=EXPECTED)
    def application(self, application_id: str) -> dict:
        session = self.db.session
        data = _application(ops.get_application(session, application_id))
        data["roster_rows"] = ops.roster_count(session, application_id)
        data["history"] = ops.history(session, application_id=application_id)
        return data

    @rpc(expected_exceptions=EXPECTED)
    def list_applications(self, city: str, year: int, status: str | None = None) -> list[dict]:
        return ops.list_applications(self.db.session, city=city, year=year, status=status)

    @rpc(expected_exceptions=EXPECTED)
    def roster(self, application_id: str) -> list[dict]:
        """The roster with ID numbers and phones masked."""
        return ops.roster_listing(self.db.session, application_id=application_id)

    # ---- rosters --------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def import_roster(
        self,
        application_id: str,
        filename: str,
        content_base64: str,
        actor: str,
        append: bool = False,
    ) -> dict:
        """Import a roster file (base64: RPC travels as JSON), replacing the roster or, with
        `append`, adding joiners to it; with any error nothing is stored and `report` names
        the upload whose error workbook `GET /enrollment/uploads/<id>/report` returns."""
        try:
            content = base64.b64decode(content_base64, validate=True)
        except (TypeError, ValueError):
            raise InvalidRequest("content_base64 不是有效的 base64 文本") from None
        return self._import(application_id, filename, content, actor, append)

    def _import(
        self, application_id: str, filename: str, content: bytes, actor: str, append: bool
    ) -> dict:
        session = self.db.session
        app = ops.get_application(session, application_id)
        policy = self.policies.get(app.city)
        result = ops.import_roster(
            session,
            policy,
            application_id=application_id,
            data=content,
            filename=filename,
            actor=actor,
            append=append,
        )
        answer = report_data(result)
        answer["imported"] = len(result.members)
        if not result.importable or result.warnings:
            upload = RosterUpload(
                application_id=application_id,
                filename=filename,
                actor=actor,
                result=answer,
                report=_report_bytes(content, result, filename),
            )
            session.add(upload)
            session.flush()
            answer["upload_id"] = upload.id
            answer["report"] = f"/enrollment/uploads/{upload.id}/report"
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def remove_members(self, application_id: str, id_numbers: list[str], actor: str) -> dict:
        removed = ops.remove_members(
            self.db.session, application_id=application_id, id_numbers=id_numbers, actor=actor
        )
        return {"removed": removed}

    @rpc(expected_exceptions=EXPECTED)
    def carry_over(
        self, application_id: str, to_year: int, actor: str, leavers: list[str] | None = None
    ) -> dict:
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
    def submit(self, application_id: str, actor: str) -> dict:
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
    def return_application(self, application_id: str, actor: str, reason: str) -> dict:
        app = ops.return_application(
            self.db.session,
            application_id=application_id,
            actor=actor,
            reason=reason,
            record=self.outbox.record,
        )
        return _application(app)

    @rpc(expected_exceptions=EXPECTED)
    def approve(self, application_id: str, actor: str) -> dict:
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
        try:
            day = date.fromisoformat(on_date)
        except (TypeError, ValueError):
            raise InvalidRequest(f"on_date 应为 YYYY-MM-DD，收到 {on_date!r}") from None
        return ops.cover(self.db.session, city=city, id_number=id_number, on_date=day)

    # ---- HTTP -----------------------------------------------------------------------------

    @http("POST", "/enrollment/applications/<string:application_id>/roster", actor=True)
    def upload_roster(self, request, application_id: str):
        filename = request.args.get("filename") or "roster.xlsx"
        append = request.args.get("append", "") in ("1", "true", "yes")
        answer = self._import(application_id, filename, request.get_data(), request.actor, append)
        return 200 if not answer["errors"] else 422, answer

    @http("GET", "/enrollment/uploads/<string:upload_id>/report")
    def download_report(self, request, upload_id: str):
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


def _report_bytes(content: bytes, result: RosterResult, filename: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = write_report(content, result, Path(folder) / "report.xlsx", filename=filename)
        return path.read_bytes()
