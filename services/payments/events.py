"""The facts the payments service publishes (to `payments.events`), and their payloads.

Payloads are small, versioned dicts of ids (DESIGN.md, "Messaging"); amounts are decimal
strings; no card or ID number travels in an event. The relay adds `event_id`.

    invoice_issued    {v, invoice_id, code, kind, city, year, application_id, unit_id,
                       member_id, amount, supersedes_id}
    premium_paid      {v, invoice_id, receipt_id, application_id, unit_id, member_id, city,
                       year, amount, paid_in_full}
        enrollment records the application (or the member) as paid from it.
    payment_held      {v, receipt_id, city, invoice_id, amount, reason}
        reason: short | over | unknown_reference | currency | late | account — finance
        resolves it at the desk (desk.py).
    payout_succeeded  {v, claim_id, payout_id, amount, paid_on, attempt}
    payout_failed     {v, claim_id, payout_id, reason, failure_reason, retryable, attempt}
        the shapes services/claims/payouts.py handles; reason is the words for the member
        and the clerk, failure_reason the normalised code (failures.FAILURE_REASONS).
    payout_returned   {v, claim_id, payout_id, amount, attempt}
        the bank sent back a payout it had reported paid (退票).
"""

from __future__ import annotations

from typing import Any

from services.kernel.money import format_money

EVENT_VERSION = 1

INVOICE_ISSUED = "invoice_issued"
PREMIUM_PAID = "premium_paid"
PAYMENT_HELD = "payment_held"
PAYOUT_SUCCEEDED = "payout_succeeded"
PAYOUT_FAILED = "payout_failed"
PAYOUT_RETURNED = "payout_returned"
EVENTS = (
    INVOICE_ISSUED,
    PREMIUM_PAID,
    PAYMENT_HELD,
    PAYOUT_SUCCEEDED,
    PAYOUT_FAILED,
    PAYOUT_RETURNED,
)


def invoice_payload(invoice: Any, supersedes: Any = None) -> dict[str, Any]:
    return {
        "v": EVENT_VERSION,
        "invoice_id": invoice.id,
        "code": invoice.code,
        "kind": invoice.kind,
        "city": invoice.city,
        "year": invoice.year,
        "application_id": invoice.application_id,
        "unit_id": invoice.unit_id,
        "member_id": invoice.member_id,
        "amount": format_money(invoice.amount),
        "supersedes_id": supersedes.id if supersedes is not None else None,
    }


def premium_payload(invoice: Any, receipt: Any, paid_in_full: bool) -> dict[str, Any]:
    return {
        "v": EVENT_VERSION,
        "invoice_id": invoice.id,
        "receipt_id": receipt.id,
        "application_id": invoice.application_id,
        "unit_id": invoice.unit_id,
        "member_id": invoice.member_id,
        "city": invoice.city,
        "year": invoice.year,
        "amount": format_money(receipt.amount),
        "paid_in_full": paid_in_full,
    }


def held_payload(receipt: Any) -> dict[str, Any]:
    return {
        "v": EVENT_VERSION,
        "receipt_id": receipt.id,
        "city": receipt.city,
        "invoice_id": receipt.invoice_id,
        "amount": format_money(receipt.amount),
        "reason": receipt.hold_reason,
    }


def payout_payload(payout: Any, **extra: Any) -> dict[str, Any]:
    return {
        "v": EVENT_VERSION,
        "claim_id": payout.claim_id,
        "payout_id": payout.id,
        "attempt": payout.attempt,
        **extra,
    }
