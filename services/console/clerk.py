"""The clerk's pages of the console: the unit's applications, the group application, roster
template and upload with its errors, submit and the quote; claims for members and the unit's
list of them. A mixin of
ConsoleService (service.py), which holds the dependencies and the frame (`_page`)."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from nameko.exceptions import RemoteError, UnknownService

from services.access.identity import CITY_REVIEWER, DISTRICT_CLERK
from services.console.pages import (
    CLAIM_FACTS,
    CLERKS,
    UPLOAD_LIMIT,
    XLSX,
    Refused,
    bad_rows,
    download,
    filename_of,
    number,
    redirect,
)
from services.messaging.web import http

CLAIMS_PAGE = 50  # claims on one page of the clerk's list: a phone's scroll, not the year


class ClerkPages:
    # ---- clerk: applications --------------------------------------------------------------

    @http("GET", "/console/applications", auth=False)
    def applications(self, request):
        return self._page(request, self._applications, request, roles=CLERKS)

    @http("POST", "/console/applications", auth=False, max_body=64 * 1024)
    def open_application(self, request):
        return self._page(request, self._applications, request, roles=CLERKS, post=True)

    def _applications(self, me, request):
        year = number(request.values.get("year")) or self.today().year
        if request.method == "POST":
            opened = self.enrollment.open_application(
                me.city,
                {
                    "unit_id": me.unit,
                    "year": year,
                    "participants": number(request.form.get("participants")) or 0,
                    "staff_total": number(request.form.get("staff_total")),
                    "staff_insured": number(request.form.get("staff_insured")),
                },
            )
            return redirect(f"/console/applications/{opened['application_id']}")
        rows = []
        if me.city:
            # enrollment lists by city for reviewers only; the console asks as itself and
            # keeps the person's own unit: opening any of them is checked by enrollment
            with self.sessions.as_bus():
                rows = self.enrollment.list_applications(me.city, year)
            rows = [r for r in rows if r.get("unit_id") == me.unit]
        return self._render("applications.html", year=year, rows=rows)

    @http("GET", "/console/applications/<string:application_id>", auth=False)
    def application_page(self, request, application_id: str):
        return self._page(request, self._application, application_id)

    def _application(self, me, application_id, upload=None):
        app = self.enrollment.application(application_id)
        invoice = None
        if app["status"] in ("submitted", "approved") and me.role in CLERKS:
            with self.sessions.as_bus():  # payments has no person-facing table yet
                try:
                    invoice = self.payments.invoice_of_application(application_id)
                except (RemoteError, UnknownService):
                    invoice = None  # the quote on the application stands for it
        return self._render("application.html", app=app, upload=upload, invoice=invoice)

    @http("GET", "/console/applications/<string:application_id>/template", auth=False)
    def template(self, request, application_id: str):
        return self._page(request, self._template, application_id, roles=CLERKS)

    def _template(self, me, application_id):
        from services.enrollment.template import default_name, write_template

        app = self.enrollment.application(application_id)  # theirs, or the 403 page
        policy = self.policies.get(app["city"])
        with tempfile.TemporaryDirectory() as folder:
            path = write_template(policy, app["year"], Path(folder) / "template.xlsx")
            data = path.read_bytes()
        return download(data, default_name(policy, app["year"]), XLSX)

    @http(
        "POST",
        "/console/applications/<string:application_id>/roster",
        auth=False,
        max_body=UPLOAD_LIMIT,
    )
    def upload(self, request, application_id: str):
        return self._page(request, self._upload, request, application_id, roles=CLERKS, post=True)

    def _upload(self, me, request, application_id):
        file = request.files.get("roster")
        if file is None or not file.filename:
            return self._application(me, application_id, upload={"missing": True})
        content = file.read()
        answer = self.enrollment.import_roster(
            application_id,
            file.filename,
            base64.b64encode(content).decode("ascii"),
            append=request.form.get("append") == "1",
        )
        answer["filename"] = file.filename
        answer["preview"] = bad_rows(content, file.filename, answer) if answer["errors"] else []
        return self._application(me, application_id, upload=answer)

    @http("GET", "/console/uploads/<string:upload_id>/report", auth=False)
    def report(self, request, upload_id: str):
        return self._page(request, self._report, request, upload_id, roles=CLERKS | {CITY_REVIEWER})

    def _report(self, me, request, upload_id):
        """The error workbook from enrollment's own route, asked with the person's token: the
        route's access rule (and its access log) apply as for any browser."""
        import requests

        from services.console.sessions import SESSION_COOKIE

        address = self.config.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000")
        host, _, port = address.rpartition(":")
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        answer = requests.get(
            f"http://{host}:{port}/enrollment/uploads/{upload_id}/report",
            headers={"Authorization": f"Bearer {request.cookies[SESSION_COOKIE]}"},
            timeout=30,
        )
        if answer.status_code in (403, 404):
            raise Refused()
        if answer.status_code != 200:
            raise RemoteError("ReportUnavailable", "错误报告暂时无法下载，请稍后再试")
        name = filename_of(answer.headers.get("Content-Disposition", "")) or "错误报告.xlsx"
        return download(answer.content, name, XLSX)

    @http(
        "POST",
        "/console/applications/<string:application_id>/submit",
        auth=False,
        max_body=64 * 1024,
    )
    def submit(self, request, application_id: str):
        return self._page(request, self._submit, application_id, roles=CLERKS, post=True)

    def _submit(self, me, application_id):
        self.enrollment.submit(application_id)
        return redirect(f"/console/applications/{application_id}")

    # ---- clerk: claims for members -------------------------------------------------------

    @http("GET", "/console/claims", auth=False)
    def claims_page(self, request):
        return self._page(request, self._claims, request, roles=CLERKS)

    def _claims(self, me, request):
        """The unit's claims of a year, newest first, a page at a time: a clerk comes back to
        each (its status, amount, what it lacks, why it was returned). A district clerk picks
        the unit from their district's (or types its id when enrollment cannot list them);
        the claims service keeps the list to their district either way."""
        year = number(request.args.get("year")) or self.today().year
        offset = number(request.args.get("offset")) or 0
        unit = me.unit or (request.args.get("unit") or "").strip() or None
        units = self._district_units(me) if me.role == DISTRICT_CLERK else None
        page, benefits = None, {}
        if me.city and unit:
            page = self.claims.unit_claims(
                me.city,
                year,
                unit,
                None if me.unit else me.district,
                limit=CLAIMS_PAGE,
                offset=offset,
            )
            benefits = {b.code: b.name for b in self.policies.get(me.city).benefits(year)}
        return self._render(
            "claims.html",
            year=year,
            unit=unit,
            units=units,
            chosen=next((u for u in units or () if u["unit_id"] == unit), None),
            page=page,
            offset=offset,
            limit=CLAIMS_PAGE,
            benefits=benefits,
        )

    def _district_units(self, me) -> list[dict] | None:
        """The units of the district clerk's district, asked of enrollment as them (its access
        table: their own district only); None when it cannot say: the page asks for the id."""
        if not (me.city and me.district):
            return None
        try:
            return self.enrollment.district_units(me.city, me.district) or None
        except (RemoteError, UnknownService):
            return None  # the typed unit id works as before

    @http("GET", "/console/claims/new", auth=False)
    def new_claim(self, request):
        return self._page(request, self._new_claim, request, roles=CLERKS)

    def _new_claim(self, me, request, message=None):
        year = number(request.values.get("year")) or self.today().year
        benefits = self.policies.get(me.city).benefits(year) if me.city else []
        return self._render(
            "new_claim.html", year=year, benefits=benefits, form=request.form, message=message
        )

    @http("POST", "/console/claims", auth=False, max_body=64 * 1024)
    def create_claim(self, request):
        return self._page(request, self._create_claim, request, roles=CLERKS, post=True)

    def _create_claim(self, me, request):
        form = request.form
        year = number(form.get("year")) or self.today().year
        facts = {key: form.get(key, "").strip() for key in CLAIM_FACTS}
        facts = {key: value for key, value in facts.items() if value}
        created = self.claims.create_claim(
            me.city,
            year,
            form.get("id_number", "").strip(),
            facts,
            name=form.get("name", "").strip() or None,
        )
        return redirect(f"/console/claims/{created['claim_id']}")

    @http(
        "POST", "/console/claims/<string:claim_id>/attachments", auth=False, max_body=UPLOAD_LIMIT
    )
    def attach(self, request, claim_id: str):
        return self._page(request, self._attach, request, claim_id, roles=CLERKS, post=True)

    def _attach(self, me, request, claim_id):
        file = request.files.get("file")
        document = request.form.get("document", "")
        if file is None or not file.filename or not document:
            raise RemoteError("InvalidRequest", "请选择材料名称和文件")
        self.claims.add_attachment(
            claim_id,
            document,
            file.filename,
            base64.b64encode(file.read()).decode("ascii"),
            actor=me.actor,  # claims' RPC takes it as given here: the same person as the token
        )
        return redirect(f"/console/claims/{claim_id}")

    @http("POST", "/console/claims/<string:claim_id>/submit", auth=False, max_body=64 * 1024)
    def submit_claim(self, request, claim_id: str):
        return self._page(request, self._submit_claim, claim_id, roles=CLERKS, post=True)

    def _submit_claim(self, me, claim_id):
        self.claims.submit(claim_id)
        return redirect(f"/console/claims/{claim_id}")
