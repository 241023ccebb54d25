"""The facts the enrollment service publishes (to `enrollment.events`), and their payloads.

Payloads are small, versioned dicts of ids (DESIGN.md, "Messaging"); a consumer asks
`enrollment.application(...)` or `enrollment.cover(...)` by RPC for details. The relay adds
`event_id`, which consumers use to ignore a second delivery.

    application_submitted  {v, application_id, unit_id, city, year}
    application_returned   {v, application_id, unit_id, city, year}
    application_approved   {v, application_id, unit_id, city, year}
    members_enrolled       {v, application_id, unit_id, city, year, members}
"""

APPLICATION_SUBMITTED = "application_submitted"
APPLICATION_RETURNED = "application_returned"
APPLICATION_APPROVED = "application_approved"
MEMBERS_ENROLLED = "members_enrolled"
EVENTS = (APPLICATION_SUBMITTED, APPLICATION_RETURNED, APPLICATION_APPROVED, MEMBERS_ENROLLED)
