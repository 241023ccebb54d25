"""What a service's error means on a console page.

nameko hands the console a RemoteError naming only the class of what the service raised. A
service declares which of its exceptions are the caller's to read (`EXPECTED` in
services/<name>/service.py: its exception family and the city policies', messages a clerk can
act on); the console keeps their class names here, by service (tests/console/test_refusals.py
holds the lists to those declarations):

- `forbidden`: not theirs, or not there: the same 403 page for both;
- `explained`: a refusal the person can act on (four eyes, a receipt already resolved, a code
  that names no invoice): its message is shown, on the page the person came from where that
  page knows how (the finance desk's held list and reconciliation), else on the error page;
- anything else is the service's own fault (a bug, the database away): its text may hold SQL
  or personal data and never reaches a page; the generic page names the request id, which the
  service's masked log carries beside the traceback.
"""

from __future__ import annotations

from nameko.exceptions import RemoteError

FORBIDDEN = frozenset({"Forbidden", "NotFound"})  # the Guard's refusal, and any service's
POLICIES = frozenset(  # services/kernel/errors.py: a city, year, district or benefit unknown
    {
        "PolicyError",
        "UnknownCity",
        "UnknownYear",
        "UnknownDistrict",
        "UnknownBenefit",
        "FactError",
        "PolicyDataError",
    }
)
ENROLLMENT = POLICIES | {  # services/enrollment/exceptions.py, schemas.py
    "EnrollmentError",
    "Conflict",
    "WorkflowError",
    "SubmissionRefused",
    "InvalidRequest",
    "RosterUnreadable",
}
CLAIMS = POLICIES | {  # services/claims/exceptions.py, schemas.py
    "ClaimsError",
    "NotStored",
    "Conflict",
    "WorkflowError",
    "SubmissionRefused",
    "AttachmentRefused",
    "ClawbackRefused",
    "SettlementUnreadable",
    "InvalidRequest",
}
PAYMENTS = POLICIES | {  # services/payments/exceptions.py, bank.py
    "PaymentsError",
    "InvoiceError",
    "LedgerError",
    "CallbackRefused",
    "PayoutError",
    "StatementUnreadable",
    "DeskError",
    "BankUnavailable",
}
NOTIFY = POLICIES | {"InvalidRequest"}  # services/notify/service.py
# the console's own refusals of a form (raised as RemoteError, so they take the same road)
CONSOLE = frozenset({"InvalidRequest", "ReportUnavailable"})
EXPLAINED = ENROLLMENT | CLAIMS | PAYMENTS | NOTIFY | CONSOLE


def forbidden(exc: RemoteError) -> bool:
    return exc.exc_type in FORBIDDEN


def explained(exc: RemoteError) -> bool:
    """A refusal whose message is written for the person (not a 403: see `forbidden`)."""
    return exc.exc_type in EXPLAINED and not forbidden(exc)
