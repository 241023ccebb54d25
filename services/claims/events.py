"""The facts the claims service publishes (to `claims.events`), the ones it handles, and their
payloads.

Payloads are small, versioned dicts of ids (DESIGN.md, "Messaging"); amounts are decimal
strings; no ID or card number travels in an event: a consumer asks `claims.claim(...)` or
`claims.payable(...)` by RPC for details. The relay adds `event_id`, which consumers use to
ignore a second delivery.

Published:
    claim_submitted      {v, claim_id, city, year, benefit, unit_id}
    claim_returned       {v, claim_id, city, year, benefit, unit_id}
    claim_rejected       {v, claim_id, city, year, benefit, unit_id}
    claim_approved       {v, claim_id, city, year, benefit, unit_id, member_id, payable, attempt}
        payable "0.00" means nothing to pay (a Wujin stay below the first band still counts
        towards the year's total); attempt is 1, then 2, 3… each time a failed payout is
        retried — payments makes one payout per (claim_id, attempt).
    claim_paid           {v, claim_id, city, year, benefit, unit_id, amount, payout_id}
    clawback_raised      {v, claim_id, clawback_id, city, year, benefit, unit_id, amount}
        amount is what is to be recovered from the member, positive.
    settlements_recorded {v, batch_id, city, year, rows, total}
        hospital settlement records (Quzhou direct settlement) recorded as paid claims of the
        members' units; nobody is to be paid.

Handled (from payments), each payload checked by its schema in handled_events.py:
    payout_succeeded     {v, event_id, claim_id, payout_id, amount, paid_on?}
        amount "1000.00" (two places, above zero, at most money.MAX_AMOUNT); paid_on YYYY-MM-DD
    payout_failed        {v, event_id, claim_id, payout_id, reason, attempt?}
    payout_returned      {v, event_id, claim_id, payout_id, amount, attempt?}
        the bank sent back a payout it had reported paid (退票): the paid amount is reversed
        and the claim waits for a retry, as after a failure
A handler that fails is retried, then its event is parked in the claims database's
dead_letters table (services/messaging/handlers.py); a malformed payload is parked at once
with the fields it got wrong. `mutual-aid events dead-letters|replay --service claims`.
"""

CLAIM_SUBMITTED = "claim_submitted"
CLAIM_RETURNED = "claim_returned"
CLAIM_REJECTED = "claim_rejected"
CLAIM_APPROVED = "claim_approved"
CLAIM_PAID = "claim_paid"
CLAWBACK_RAISED = "clawback_raised"
SETTLEMENTS_RECORDED = "settlements_recorded"
EVENTS = (
    CLAIM_SUBMITTED,
    CLAIM_RETURNED,
    CLAIM_REJECTED,
    CLAIM_APPROVED,
    CLAIM_PAID,
    CLAWBACK_RAISED,
    SETTLEMENTS_RECORDED,
)

PAYOUT_SUCCEEDED = "payout_succeeded"
PAYOUT_FAILED = "payout_failed"
# the consumer names `first_time` records, as the nameko handlers are named
ON_PAYOUT_SUCCEEDED = "claims.on_payout_succeeded"
ON_PAYOUT_FAILED = "claims.on_payout_failed"
PAYOUT_RETURNED = "payout_returned"
ON_PAYOUT_RETURNED = "claims.on_payout_returned"
