"""Production sign-in: the IdP's authorization code flow with PKCE (RFC 7636).

Config key CONSOLE_OIDC (absent: embedded mode, the demo users of the local issuer):
    authorize_url   <realm>/protocol/openid-connect/auth
    token_url       <realm>/protocol/openid-connect/token
    client_id       the realm's console client (deploy/keycloak/), public, PKCE S256
    redirect_uri    https://<host>/console/oidc/callback

The login page sends the browser to the IdP with a fresh `state`, `nonce` and S256 code
challenge, kept in a short-lived HttpOnly cookie; the callback checks `state`, exchanges the
code with the verifier, checks the ID token (signature by the IdP's JWKS, issuer, audience =
the client, nonce) with PyJWT, and verifies the access token with the services' own
TokenVerifier: the cookie then holds the access token the services accept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt

from services.access.tokens import ALGORITHMS, TokenRefused

FLOW_COOKIE = "console_oidc"


class SignInFailed(Exception):
    """The IdP's answer could not sign the person in (one Chinese line)."""


@dataclass(frozen=True)
class OidcSettings:
    authorize_url: str
    token_url: str
    client_id: str
    redirect_uri: str
    issuer: str
    jwks_url: str
    scope: str = "openid profile"


@dataclass(frozen=True)
class Start:
    url: str
    state: str
    nonce: str
    verifier: str


def settings_of(config: dict) -> OidcSettings | None:
    raw = config.get("CONSOLE_OIDC")
    if not raw:
        return None
    return OidcSettings(
        authorize_url=raw["authorize_url"],
        token_url=raw["token_url"],
        client_id=raw["client_id"],
        redirect_uri=raw["redirect_uri"],
        issuer=config.get("AUTH_ISSUER") or raw["issuer"],
        jwks_url=config.get("AUTH_JWKS_URL") or raw["jwks_url"],
        scope=raw.get("scope", "openid profile"),
    )


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def start(settings: OidcSettings) -> Start:
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)  # 86 characters: within RFC 7636's 43..128
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": settings.redirect_uri,
            "scope": settings.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
        }
    )
    return Start(f"{settings.authorize_url}?{query}", state, nonce, verifier)


def remember(response, flow: Start, secure: bool) -> None:
    value = json.dumps({"state": flow.state, "nonce": flow.nonce, "verifier": flow.verifier})
    response.set_cookie(
        FLOW_COOKIE,
        base64.urlsafe_b64encode(value.encode()).decode(),
        max_age=600,
        httponly=True,
        samesite="Lax",  # the IdP's redirect back is a top-level GET: Lax sends it
        secure=secure,
        path="/console/oidc",
    )


def forget(response) -> None:
    response.delete_cookie(FLOW_COOKIE, path="/console/oidc")


def finish(settings: OidcSettings, request, verifier, post=None) -> str:
    """The access token for the session cookie, from the callback's `code`."""
    try:
        flow = json.loads(base64.urlsafe_b64decode(request.cookies.get(FLOW_COOKIE, "")))
    except ValueError:
        raise SignInFailed("登录已超时，请重新登录") from None
    if not flow or request.args.get("state") != flow.get("state"):
        raise SignInFailed("登录请求不匹配，请重新登录")
    code = request.args.get("code")
    if not code:
        raise SignInFailed(f"身份认证未完成：{request.args.get('error', '没有授权码')}")
    if post is None:
        import requests

        post = requests.post
    answer = post(
        settings.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.redirect_uri,
            "client_id": settings.client_id,
            "code_verifier": flow["verifier"],
        },
        timeout=15,
    )
    if answer.status_code != 200:
        raise SignInFailed("身份认证服务拒绝了登录，请重新登录")
    tokens = answer.json()
    check_id_token(settings, tokens.get("id_token", ""), flow["nonce"])
    access = tokens.get("access_token", "")
    try:
        verifier.verify(access)  # the token the services will accept, checked as they will
    except TokenRefused as exc:
        raise SignInFailed(f"访问令牌无效：{exc}") from None
    return access


def check_id_token(settings: OidcSettings, token: str, nonce: str, key=None) -> dict:
    try:
        if key is None:
            key = jwt.PyJWKClient(settings.jwks_url).get_signing_key_from_jwt(token).key
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=settings.client_id,
            issuer=settings.issuer,
            leeway=30,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError:
        raise SignInFailed("身份令牌无效，请重新登录") from None
    if claims.get("nonce") != nonce:
        raise SignInFailed("身份令牌与登录请求不匹配，请重新登录")
    return claims
