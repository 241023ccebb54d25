"""The finance desk's pages of the console: held payments with their reason and every
resolution (apply, match to another invoice by its code, propose a refund; a pending refund
approved or declined by another finance person), payouts by state, failed payouts with the
bank's reason, and a bank statement's reconciliation with its Excel report. A mixin of
ConsoleService (service.py), which holds the dependencies and the frame (`_page`).

Every call goes to payments as the signed-in person: payments' own access table
(services/payments/access.py) keeps finance to their city, and records them as the actor.
A resolution or statement payments refuses (four eyes, a receipt already resolved, a code that
names no invoice, a statement it cannot read) is answered on the page the person came from:
its message above the list or the form, what they typed back in place (refusals.py: which
errors are a person's to read; the others go to the frame's generic page).

    GET  /console/finance                                  held payments
    POST /console/finance/held/<receipt_id>/apply          apply, or match by invoice code
    POST /console/finance/held/<receipt_id>/refund         propose a refund
    POST /console/finance/refunds/<resolution_id>/decide   approve or decline (another person)
    GET  /console/finance/payouts?status=&offset=          payouts by state
    GET  /console/finance/failed?offset=                   failed and returned payouts
    GET  /console/finance/reconcile                        the statement upload form
    POST /console/finance/reconcile                        upload → the report, the workbook
"""

from __future__ import annotations

import base64

from nameko.exceptions import RemoteError

from services.access.identity import FINANCE, same_person
from services.console import refusals
from services.console.pages import XLSX, local_times, number, redirect
from services.messaging.web import http

DESK = {FINANCE}
FORM_LIMIT = 64 * 1024
STATEMENT_LIMIT = 9 * 1024 * 1024  # payments takes a statement up to 8 MB; the form's rest
PAGE = 50


def _reason(request, field: str = "reason") -> str:
    return (request.form.get(field) or "").strip()


class FinancePages:
    # ---- held payments ----------------------------------------------------------------------

    @http("GET", "/console/finance", auth=False)
    def finance(self, request):
        return self._page(request, self._finance, roles=DESK)

    def _finance(self, me, refused: RemoteError | None = None, typed: dict | None = None):
        """The held list; after a refusal, its message above the list (422) and what was
        typed back in the row it was typed in (``typed["target"]``: the receipt's id, or the
        pending refund's)."""
        held = local_times(self.payments.held(me.city), "occurred_at")
        for item in held:
            pending = item.get("pending_refund")
            # four eyes: the proposer waits; any other finance person of the city decides
            item["mine"] = bool(pending) and same_person(pending["proposed_by"], me.actor)
            targets = (item["receipt_id"], pending and pending["resolution_id"])
            item["typed"] = typed if typed and typed["target"] in targets else None
        response = self._render(
            "finance.html",
            held=held,
            section="held",
            message=refused and (refused.value or "操作未完成"),
        )
        if refused is not None:
            response.status_code = 422
        return response

    def _held_action(self, me, call, typed: dict):
        """A resolution asked of payments; refused, the held list answers with the reason."""
        try:
            call()
        except RemoteError as exc:
            if not refusals.explained(exc):
                raise  # not theirs (403), or payments' own fault: the frame's pages
            return self._finance(me, refused=exc, typed=typed)
        return redirect("/console/finance")

    @http(
        "POST", "/console/finance/held/<string:receipt_id>/apply", auth=False, max_body=FORM_LIMIT
    )
    def resolve(self, request, receipt_id: str):
        return self._page(request, self._resolve, request, receipt_id, roles=DESK, post=True)

    def _resolve(self, me, request, receipt_id):
        """Apply to the receipt's own invoice, or (a code typed) match it to that invoice."""
        reason, code = _reason(request), _reason(request, "invoice_code")
        return self._held_action(
            me,
            lambda: self.payments.resolve_apply(
                receipt_id, me.actor, reason, invoice_code=code or None
            ),
            {"target": receipt_id, "action": "apply", "reason": reason, "invoice_code": code},
        )

    @http(
        "POST", "/console/finance/held/<string:receipt_id>/refund", auth=False, max_body=FORM_LIMIT
    )
    def propose_refund(self, request, receipt_id: str):
        return self._page(request, self._propose_refund, request, receipt_id, roles=DESK, post=True)

    def _propose_refund(self, me, request, receipt_id):
        reason = _reason(request)
        return self._held_action(
            me,
            lambda: self.payments.propose_refund(receipt_id, me.actor, reason),
            {"target": receipt_id, "action": "refund", "reason": reason},
        )

    @http(
        "POST",
        "/console/finance/refunds/<string:resolution_id>/decide",
        auth=False,
        max_body=FORM_LIMIT,
    )
    def decide_refund(self, request, resolution_id: str):
        return self._page(
            request, self._decide_refund, request, resolution_id, roles=DESK, post=True
        )

    def _decide_refund(self, me, request, resolution_id):
        action, reason = request.form.get("action"), _reason(request)

        def decide():
            if action == "approve":
                self.payments.approve_refund(resolution_id, me.actor, reason or None)
            elif action == "decline":
                self.payments.decline_refund(resolution_id, me.actor, reason)
            else:
                raise RemoteError("InvalidRequest", "请选择批准或驳回退款")

        return self._held_action(
            me, decide, {"target": resolution_id, "action": "decide", "reason": reason}
        )

    # ---- payouts ------------------------------------------------------------------------------

    @http("GET", "/console/finance/payouts", auth=False)
    def payouts_page(self, request):
        return self._page(request, self._payouts, request, roles=DESK)

    def _payouts(self, me, request):
        status = request.args.get("status") or None  # payments names a state it has not
        offset = number(request.args.get("offset")) or 0
        page = self.payments.list_payouts(me.city, status, PAGE, offset)
        local_times(page["items"], "created_at", "finished_at")
        return self._render(
            "finance_payouts.html",
            section="payouts",
            page=page,
            status=status,
            query=f"status={status}&" if status else "",
        )

    @http("GET", "/console/finance/failed", auth=False)
    def failed_page(self, request):
        return self._page(request, self._failed, request, roles=DESK)

    def _failed(self, me, request):
        offset = number(request.args.get("offset")) or 0
        page = self.payments.failed_payouts(me.city, PAGE, offset)
        local_times(page["items"], "created_at", "finished_at")
        return self._render("finance_failed.html", section="failed", page=page, query="")

    # ---- reconciliation ---------------------------------------------------------------------

    @http("GET", "/console/finance/reconcile", auth=False)
    def reconcile_page(self, request):
        return self._page(request, self._reconcile, request, roles=DESK)

    @http("POST", "/console/finance/reconcile", auth=False, max_body=STATEMENT_LIMIT)
    def reconcile_upload(self, request):
        return self._page(request, self._reconcile, request, roles=DESK, post=True)

    def _reconcile(self, me, request):
        """The form (the city's fund accounts offered), and after an upload the report as
        tables with the Excel workbook to download."""
        accounts = sorted(self.payments.balances(me.city)["funds"])
        form = {"account": "", "day": ""}
        report = missing = refused = None
        if request.method == "POST":
            form = {k: (request.form.get(k) or "").strip() for k in form}
            file = request.files.get("statement")
            if file is None or not file.filename or not form["account"]:
                missing = True
            else:
                try:
                    report = self.payments.reconcile_statement(
                        form["account"],
                        file.filename,
                        base64.b64encode(file.read()).decode("ascii"),
                        me.actor,
                        form["day"] or None,
                    )
                except RemoteError as exc:
                    if not refusals.explained(exc):
                        raise
                    refused = exc  # a statement payments cannot take: why, above the form
        response = self._render(
            "finance_reconcile.html",
            section="reconcile",
            accounts=accounts,
            form=form,
            report=report,
            missing=missing,
            message=refused and (refused.value or "操作未完成"),
            xlsx=XLSX,
        )
        if refused is not None:
            response.status_code = 422
        return response
