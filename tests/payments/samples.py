"""Sample inputs for the payments tests: an application as enrollment.application(...) answers
it, with the quote the city plugin computes (never amounts or remarks typed here)."""

from __future__ import annotations

import uuid

from services.kernel.policy import CityPolicy, Unit


def application(
    policy: CityPolicy,
    year: int,
    unit_name: str,
    participants: int,
    *,
    district: str | None = None,
    application_id: str | None = None,
    unit_id: str | None = None,
) -> dict:
    quote = policy.quote(
        year,
        Unit(
            name=unit_name,
            participants=participants,
            district=district,
            staff_total=participants,
            staff_insured=participants,
        ),
    )
    return {
        "application_id": application_id or str(uuid.uuid4()),
        "unit_id": unit_id or str(uuid.uuid4()),
        "city": policy.code,
        "year": year,
        "status": "submitted",
        "participants": participants,
        "quote": quote.to_dict(),
    }
