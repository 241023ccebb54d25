"""Who is signed in to the console, and how their identity reaches the services they call.

The session cookie holds the person's bearer token itself (the local issuer's in embedded
mode, the IdP's access token in production): HttpOnly so no script reads it, SameSite=Lax so
another site's form does not carry it, verified on every request by the same TokenVerifier
the HTTP edge uses. Nothing is kept server-side: a restart signs no one out.

A verified identity is put in the worker's context data under `identity`, exactly as the
edge does for a bearer request (services/messaging/web.py); nameko copies context data into
every RPC call's headers, so the owning service's Guard checks its own access table for this
person: the console decides nothing the services would not.

Every POST form carries a CSRF token: a random value in a second cookie, repeated in the
form (double submit); a cross-site page can neither read the cookie nor set it.
"""

from __future__ import annotations

import hmac
import secrets
from contextlib import contextmanager

from nameko.extensions import DependencyProvider

from services.access.guard import IDENTITY_KEY
from services.access.identity import Identity
from services.access.tokens import AuthSettings, TokenRefused, TokenVerifier

SESSION_COOKIE = "console_session"
CSRF_COOKIE = "console_csrf"
CSRF_FIELD = "csrf_token"


class NotSignedIn(Exception):
    """No session, or its token no longer verifies (expired, another issuer): sign in."""


class BadCsrf(Exception):
    """A POST without the form's CSRF token matching the cookie."""


class Session:
    """One request's view of the signed-in person, bound to the worker's context data."""

    def __init__(self, worker_ctx, verifier: TokenVerifier):
        self.worker_ctx = worker_ctx
        self.verifier = verifier
        self.identity: Identity | None = None
        self.csrf: str = ""
        self.new_csrf = False

    def load(self, request) -> Identity | None:
        """The person whose token the cookie holds (None when none or not valid), and the
        request's CSRF token (a new one when the browser has none yet)."""
        self.csrf = request.cookies.get(CSRF_COOKIE, "")
        if len(self.csrf) < 32:
            self.csrf, self.new_csrf = secrets.token_urlsafe(32), True
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            try:
                self.identity = self.verifier.verify(token)
            except TokenRefused:
                self.identity = None
        if self.identity is not None:
            # `data`, not `context_data` (a copy): what every RPC call's headers are made from
            self.worker_ctx.data[IDENTITY_KEY] = self.identity.to_context()
            self.worker_ctx.data["actor"] = self.identity.actor
        return self.identity

    @property
    def request_id(self) -> str | None:
        """The request's id (the edge's, in the context data): what the generic page names."""
        return self.worker_ctx.data.get("request_id")

    def require(self, request) -> Identity:
        identity = self.identity or self.load(request)
        if identity is None:
            raise NotSignedIn()
        return identity

    def check_csrf(self, request) -> None:
        sent = request.form.get(CSRF_FIELD, "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
            raise BadCsrf()

    @contextmanager
    def as_bus(self):
        """A call made by the console itself, not the person (a list the services offer only
        by city, which the console narrows to the person's unit): no identity in headers."""
        data = self.worker_ctx.data
        saved = data.pop(IDENTITY_KEY, None)
        try:
            yield
        finally:
            if saved is not None:
                data[IDENTITY_KEY] = saved


class Sessions(DependencyProvider):
    def setup(self) -> None:
        self.verifier = TokenVerifier(AuthSettings.from_config(self.container.config))

    def get_dependency(self, worker_ctx) -> Session:
        return Session(worker_ctx, self.verifier)


def set_session_cookies(response, token: str | None, csrf: str, secure: bool) -> None:
    """The session (or its removal, token None) and the CSRF cookie on a response."""
    if token is None:
        response.delete_cookie(SESSION_COOKIE, path="/console")
    else:
        response.set_cookie(
            SESSION_COOKIE, token, httponly=True, samesite="Lax", secure=secure, path="/console"
        )
    set_csrf_cookie(response, csrf, secure)


def set_csrf_cookie(response, csrf: str, secure: bool) -> None:
    response.set_cookie(
        CSRF_COOKIE, csrf, httponly=True, samesite="Lax", secure=secure, path="/console"
    )
