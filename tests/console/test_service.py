"""The console's frame over plain HTTP (no browser): sign-in first, the CSRF token on every
POST, the session cookie's flags, the same 403 page for another unit's record and for one
that does not exist, and a role's pages closed to other roles."""

from __future__ import annotations

import re

import pytest
import requests

from services.console.sessions import CSRF_COOKIE, SESSION_COOKIE

pytestmark = pytest.mark.rabbit


def signed_in(base: str, index: int) -> requests.Session:
    web = requests.Session()
    page = web.get(f"{base}/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = web.post(
        f"{base}/console/login",
        data={"csrf_token": csrf, "user": str(index)},
        allow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["Set-Cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    web.csrf = csrf
    return web


def test_pages_need_a_session_and_posts_need_the_csrf_token(console):
    base, unit_a, _ = console
    anonymous = requests.get(f"{base}/console/applications", allow_redirects=False)
    assert (anonymous.status_code, anonymous.headers["Location"]) == (303, "/console/login")

    clerk = signed_in(base, 0)
    form = {"participants": "3", "year": "2024"}
    forged = clerk.post(f"{base}/console/applications", data=form, allow_redirects=False)
    assert forged.status_code == 400 and "表单已过期" in forged.text
    wrong = clerk.post(
        f"{base}/console/applications",
        data={**form, "csrf_token": "x" * 43},
        allow_redirects=False,
    )
    assert wrong.status_code == 400
    assert "本年度还没有申请" in clerk.get(f"{base}/console/applications").text  # none opened
    opened = clerk.post(
        f"{base}/console/applications",
        data={**form, "csrf_token": clerk.csrf},
        allow_redirects=False,
    )
    assert opened.status_code == 303
    assert clerk.cookies.get(CSRF_COOKIE) == clerk.csrf
    application = opened.headers["Location"]
    assert "团体申请表" in clerk.get(f"{base}{application}").text

    # unit B's clerk: A's application and one that does not exist answer the same page
    other = signed_in(base, 1)
    theirs = other.get(f"{base}{application}")
    missing = other.get(f"{base}/console/applications/no-such-application")
    assert theirs.status_code == missing.status_code == 403
    assert theirs.text == missing.text and "A工会" not in theirs.text
    upload = other.post(
        f"{base}{application}/roster",
        data={"csrf_token": other.csrf},
        files={"roster": ("名册.xlsx", b"PK")},
    )
    assert upload.status_code == 403
    # a clerk's token opens no reviewer's, finance or operator's page
    for page in ("review", "finance", "cities"):
        assert clerk.get(f"{base}/console/{page}").status_code == 403
    assert "zhangjiakou" in signed_in(base, 4).get(f"{base}/console/cities").text
