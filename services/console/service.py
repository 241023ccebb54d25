"""The web console: server-rendered pages for clerks, reviewers, finance, operators and the help
desk.

Thin: every page is one or two RPC calls to the owning service, made as the signed-in person
(sessions.py puts their identity in the context data, so the service's own access table
decides); the console adds only the HTML. Its routes are `auth=False` at the edge because the
browser sends a session cookie, not a bearer header: the console verifies that cookie itself
with the edge's TokenVerifier before any call. Forms work without JavaScript; each POST
carries a CSRF token. Refusals and records that do not exist answer the same 403 page.

    GET  /console/login                     sign in (embedded: demo users; production: the IdP)
    GET  /console/applications?year=        clerk: the unit's applications
    GET  /console/applications/<id>         the group application, roster upload, quote, submit
    GET  /console/claims?year=              clerk: the unit's claims, newest first
    GET  /console/review                    reviewer: claims by due date, applications to review
    GET  /console/claims/<id>               reviewer: facts, documents, the assessment
    GET  /console/claims/<id>/attachments/<a>  a document's file, shown inline
    GET  /console/finance                   finance: held payments, payouts, statements (finance.py)
    GET  /console/cities                    operator: installed cities and their years
    GET  /console/help                      help desk: a member's claims and SMS by phone or
    POST /console/help                      claim number (help_desk.py)
"""

from __future__ import annotations

import logging

from nameko.dependency_providers import Config
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import RpcProxy
from werkzeug.wrappers import Response

from services.access.identity import (
    CLAIM_NAMES,
    DISTRICT_CLERK,
    ROLES,
)
from services.access.tokens import LocalIssuer
from services.console import oidc, refusals
from services.console.clerk import ClerkPages
from services.console.finance import FinancePages
from services.console.help_desk import HelpDeskPages
from services.console.operator import OperatorPages
from services.console.pages import HOMES, Refused, redirect, render, static_file
from services.console.review import ReviewPages
from services.console.sessions import (
    CSRF_FIELD,
    BadCsrf,
    NotSignedIn,
    Sessions,
    set_csrf_cookie,
    set_session_cookies,
)
from services.messaging.http_listener import GENERIC_ERROR
from services.messaging.logs import LogContext
from services.messaging.web import http
from services.providers import CityPolicies, Clock

_log = logging.getLogger(__name__)


class ConsoleService(ClerkPages, ReviewPages, OperatorPages, FinancePages, HelpDeskPages):
    name = "console"
    api_document = False  # HTML pages for people: not in /openapi.json (messaging/openapi.py)

    sessions = Sessions()
    enrollment = RpcProxy("enrollment")
    claims = RpcProxy("claims")
    payments = RpcProxy("payments")
    notify = RpcProxy("notify")
    policies = CityPolicies()
    today = Clock()
    config = Config()
    log_context = LogContext()

    # ---- the frame: sign-in, refusals, the CSRF cookie ----------------------------------

    def _page(self, request, handler, *args, roles=None, post=False):
        """Run a page for the signed-in person: sign in first, the 403 page for a role or a
        record not theirs, a service's refusal of the input shown on an error page (a page that
        shows it in place answers it itself), and anything else a service raised on the
        generic page with the request id (refusals.py)."""
        session = self.sessions
        session.load(request)
        try:
            identity = session.require(request)
            if post:
                session.check_csrf(request)
            if roles is not None and identity.role not in roles:
                raise Refused()
            response = handler(identity, *args)
        except NotSignedIn:
            response = redirect("/console/login")
        except BadCsrf:
            response = render(
                "error.html",
                400,
                me=session.identity,
                csrf=session.csrf,
                message="表单已过期，请返回后刷新页面再提交",
            )
        except Refused:
            response = self._forbidden()
        except UnknownService:
            response = render(
                "error.html",
                503,
                me=session.identity,
                csrf=session.csrf,
                message="服务暂时不可用，请稍后再试",
            )
        except RemoteError as exc:
            if refusals.forbidden(exc):
                response = self._forbidden()
            elif refusals.explained(exc):
                response = render(
                    "error.html",
                    422,
                    me=session.identity,
                    csrf=session.csrf,
                    message=exc.value or "操作未完成",
                )
            else:
                response = self._service_fault(exc)
        if session.new_csrf:
            set_csrf_cookie(response, session.csrf, self._secure)
        return response

    def _service_fault(self, exc: RemoteError) -> Response:
        """A service's own fault: the generic page with the request id. The service logged
        the traceback under the same id; its text (SQL, data) is not shown, nor logged here."""
        s = self.sessions
        _log.warning("a service failed: %s (the page answered 500)", exc.exc_type)
        return render(
            "error.html",
            500,
            me=s.identity,
            csrf=s.csrf,
            message=GENERIC_ERROR,
            request_id=s.request_id,
        )

    def _forbidden(self) -> Response:
        s = self.sessions
        return render("forbidden.html", 403, me=s.identity, csrf=s.csrf)

    def _render(self, name: str, **context) -> Response:
        s = self.sessions
        # what a clerk's pages call her own things: a district clerk's span her district's units
        ours = (
            "本区县" if s.identity is not None and s.identity.role == DISTRICT_CLERK else "本单位"
        )
        return render(name, me=s.identity, csrf=s.csrf, csrf_field=CSRF_FIELD, ours=ours, **context)

    @property
    def _secure(self) -> bool:
        return bool(self.config.get("CONSOLE_SECURE_COOKIES", False))

    # ---- sign-in --------------------------------------------------------------------------

    @http("GET", "/console/static/<string:name>", auth=False)
    def static(self, request, name: str):
        return static_file(name) or render(
            "error.html", 404, me=None, csrf="", message="没有这个文件"
        )

    @http("GET", "/console/", auth=False)
    def home(self, request):
        identity = self.sessions.load(request)
        return redirect(
            HOMES.get(identity.role, "/console/login") if identity else "/console/login"
        )

    @http("GET", "/console/login", auth=False)
    def login_page(self, request):
        session = self.sessions
        session.load(request)
        settings = oidc.settings_of(self.config)
        if settings is not None:  # production: the IdP's code flow with PKCE
            start = oidc.start(settings)
            response = redirect(start.url)
            oidc.remember(response, start, self._secure)
            return response
        response = self._render("login.html", users=self._demo_users(), roles=ROLES)
        if session.new_csrf:
            set_csrf_cookie(response, session.csrf, self._secure)
        return response

    @http("POST", "/console/login", auth=False, max_body=64 * 1024)
    def login(self, request):
        session = self.sessions
        session.load(request)
        try:
            session.check_csrf(request)
        except BadCsrf:
            return render(
                "error.html",
                400,
                me=None,
                csrf=session.csrf,
                message="表单已过期，请刷新登录页再试",
            )
        if oidc.settings_of(self.config) is not None:
            return self._forbidden()  # production signs in only through the IdP
        form = request.form
        chosen = self._demo_users()
        index = form.get("user", "")
        if index.isdigit() and int(index) < len(chosen):
            user = chosen[int(index)]
        else:
            user = {k: form.get(k, "").strip() or None for k in CLAIM_NAMES}
        if user.get("role") not in ROLES or not user.get("name"):
            return self._render(
                "login.html", users=chosen, roles=ROLES, message="请选择角色并填写姓名"
            )
        issuer = LocalIssuer(self.config.get("AUTH_KEY_DIR") or "var/auth")
        token = issuer.issue(
            name=user["name"],
            role=user["role"],
            sub=user.get("sub"),
            city=user.get("city"),
            district=user.get("district"),
            unit=user.get("unit"),
        )
        response = redirect(HOMES[user["role"]])
        set_session_cookies(response, token, session.csrf, self._secure)
        return response

    @http("GET", "/console/oidc/callback", auth=False)
    def oidc_callback(self, request):
        settings = oidc.settings_of(self.config)
        if settings is None:
            return self._forbidden()
        try:
            token = oidc.finish(settings, request, self.sessions.verifier)
        except oidc.SignInFailed as exc:
            return render("error.html", 400, me=None, csrf="", message=str(exc))
        response = redirect("/console/")
        self.sessions.load(request)
        set_session_cookies(response, token, self.sessions.csrf, self._secure)
        oidc.forget(response)
        return response

    @http("POST", "/console/logout", auth=False, max_body=64 * 1024)
    def logout(self, request):
        response = redirect("/console/login")
        self.sessions.load(request)
        set_session_cookies(response, None, self.sessions.csrf, self._secure)
        return response

    def _demo_users(self) -> list[dict]:
        """Embedded mode's people to sign in as (config CONSOLE_DEMO_USERS)."""
        return [dict(u) for u in self.config.get("CONSOLE_DEMO_USERS") or []]
