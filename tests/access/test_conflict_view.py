"""Roster conflicts name the other unit only to a reviewer (issue 9, point 5), over HTTP on the
running services: unit B's clerk uploads a roster naming a person unit A already enrolled;
reading B's application, the city's reviewer sees which unit holds the person, B's clerk
only that another unit does (services and tokens as in test_http.py)."""

from __future__ import annotations

import pytest
import requests

from tests.access.test_http import CITY, PEOPLE, YEAR, roster_bytes, running  # noqa: F401
from tests.tokens import bearer

pytestmark = pytest.mark.rabbit


def open_with_roster(base: str, headers: dict, unit_id: str, people) -> tuple[str, int]:
    opened = requests.post(
        f"{base}/enrollment/applications",
        json={"city": CITY, "unit_id": unit_id, "year": YEAR, "participants": len(people)},
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    app_id = opened.json()["application_id"]
    uploaded = requests.post(
        f"{base}/enrollment/applications/{app_id}/roster",
        params={"filename": "名册.xlsx"},
        data=roster_bytes(people),
        headers=headers,
    )
    return app_id, uploaded.status_code


def test_the_reviewer_reads_which_unit_holds_a_conflict_the_clerk_only_that_one_does(
    running,  # noqa: F811
    issuer,
):
    base, (unit_a, unit_b), _ = running
    clerk_a = bearer(issuer, name="王芳", sub="wf-1", city=CITY, unit=unit_a)
    clerk_b = bearer(issuer, name="赵六", sub="zl-1", city=CITY, unit=unit_b)
    reviewer = bearer(issuer, role="city_reviewer", name="李审", sub="li-1", city=CITY)
    help_desk = bearer(issuer, role="help_desk", name="孙客服", sub="sk-1", city=CITY)
    assert open_with_roster(base, clerk_a, unit_a, PEOPLE[:3])[1] == 200
    # B's roster: a new person, then one A enrolled (Excel row 4)
    app_b, status = open_with_roster(base, clerk_b, unit_b, [PEOPLE[5], PEOPLE[1]])
    assert status == 422

    url = f"{base}/enrollment/applications/{app_b}"
    as_reviewer = requests.get(url, headers=reviewer)
    as_clerk = requests.get(url, headers=clerk_b)
    as_help_desk = requests.get(url, headers=help_desk)

    assert as_reviewer.status_code == as_clerk.status_code == as_help_desk.status_code == 200
    seen = as_reviewer.json()["last_failed_upload"]
    assert seen["filename"] == "名册.xlsx" and seen["errors"] == 1
    assert seen["conflicts"] == [{"row": 4, "unit": "A工会"}]
    for answer in (as_clerk, as_help_desk):
        assert answer.json()["last_failed_upload"]["conflicts"] == [
            {"row": 4, "unit": "已在其他单位"}
        ]
        assert "A工会" not in answer.text
    # A's application had no failed upload
    app_a = requests.get(
        f"{base}/enrollment/applications?city={CITY}&year={YEAR}", headers=reviewer
    )
    (listed_a,) = [a for a in app_a.json() if a["unit"] == "A工会"]
    read_a = requests.get(
        f"{base}/enrollment/applications/{listed_a['application_id']}", headers=reviewer
    )
    assert read_a.json()["last_failed_upload"] is None
