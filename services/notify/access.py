"""Who may call which notify entrypoint, on what scope: the service's one access table
(services/access/policy.py; checked by the Guard before a worker runs, RPC when the call
carries a person's identity). Calls without a person (the demo, tests, a script on the bus)
are the bus's own and not checked here; the gateway's receipts are authenticated by the
secret in their path.

The help desk reads what was sent, masked (desk.py): to a phone number (a number belongs to
no one city, so the table checks the role and `sent_to` keeps to the caller's city's
messages), or about one claim (the city its messages name). No other role reads them: a
reviewer or a clerk reads a claim on its own page, and nothing here is theirs to answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from services.access.identity import HELP_DESK, Identity
from services.access.policy import Policy, Rule, Scope, anywhere
from services.notify.models import Message


def claim_scope(service: Any, arguments: Mapping) -> Scope:
    """The city a claim's messages name; none sent yet is no one's data (nothing to read)."""
    claim_id = arguments.get("claim_id")
    city = (
        service.db.session.scalar(select(Message.city).where(Message.claim_id == claim_id).limit(1))
        if isinstance(claim_id, str)
        else None
    )
    return Scope(city=city) if city else Scope()


def city_of(identity: Identity | None) -> str | None:
    """The city whose messages a caller reads: the person's own; every city for the bus and
    for a help desk whose token names none (services/access/policy.py `within`)."""
    return identity.city if identity is not None else None


DESK = {HELP_DESK}

POLICY = Policy(
    {
        "sent_to": Rule(DESK, anywhere),
        "about_claim": Rule(DESK, claim_scope),
    }
)
