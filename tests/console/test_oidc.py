"""Production sign-in's code flow with PKCE: the redirect's parameters, the callback's checks
(state, the code exchange with the verifier, the ID token's signature, audience and nonce)."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from services.access.identity import Identity
from services.access.tokens import TokenRefused
from services.console import oidc

REALM = "https://idp.example.cn/realms/mutual-aid"
CONFIG = {
    "CONSOLE_OIDC": {
        "authorize_url": f"{REALM}/protocol/openid-connect/auth",
        "token_url": f"{REALM}/protocol/openid-connect/token",
        "client_id": "console",
        "redirect_uri": "https://aid.example.cn/console/oidc/callback",
        "issuer": REALM,
        "jwks_url": f"{REALM}/protocol/openid-connect/certs",
    }
}


def test_embedded_mode_has_no_idp():
    assert oidc.settings_of({}) is None


def test_the_redirect_carries_a_code_request_with_an_s256_challenge_state_and_nonce():
    settings = oidc.settings_of(CONFIG)
    flow = oidc.start(settings)
    url = urlsplit(flow.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == CONFIG["CONSOLE_OIDC"]["authorize_url"]
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == "console"
    assert query["redirect_uri"] == "https://aid.example.cn/console/oidc/callback"
    assert "openid" in query["scope"].split()
    assert query["state"] == flow.state and query["nonce"] == flow.nonce
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(flow.verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(flow.verifier) <= 128  # RFC 7636
    assert oidc.start(settings).state != flow.state  # fresh each time


class Answer:
    def __init__(self, status: int, body: dict):
        self.status_code, self.body = status, body

    def json(self):
        return self.body


class Verifier:
    def verify(self, token: str) -> Identity:
        if token != "access-token":
            raise TokenRefused("令牌无效")
        return Identity(sub="s", name="王芳", role="unit_clerk")


def callback(flow, **args) -> Request:
    response = Response()
    oidc.remember(response, flow, secure=False)
    cookie = response.headers["Set-Cookie"].split(";", 1)[0]
    builder = EnvironBuilder(
        path="/console/oidc/callback", query_string=args, headers={"Cookie": cookie}
    )
    return Request(builder.get_environ())


@pytest.fixture
def idp_key():
    return ec.generate_private_key(ec.SECP256R1())


def id_token(key, **claims) -> str:
    now = int(time.time())
    body = {"iss": REALM, "aud": "console", "sub": "s", "exp": now + 60, "iat": now, **claims}
    return jwt.encode(body, key, algorithm="ES256")


def test_the_callback_exchanges_the_code_with_the_verifier_and_checks_the_id_token(
    idp_key, monkeypatch
):
    settings = oidc.settings_of(CONFIG)
    flow = oidc.start(settings)
    sent = {}

    def post(url, data, timeout):
        sent.update(data, url=url)
        return Answer(
            200, {"id_token": id_token(idp_key, nonce=flow.nonce), "access_token": "access-token"}
        )

    real = oidc.check_id_token
    monkeypatch.setattr(
        oidc,
        "check_id_token",
        lambda s, token, nonce: real(s, token, nonce, key=idp_key.public_key()),
    )
    token = oidc.finish(settings, callback(flow, code="abc", state=flow.state), Verifier(), post)
    assert token == "access-token"
    assert sent["url"] == CONFIG["CONSOLE_OIDC"]["token_url"]
    assert sent["grant_type"] == "authorization_code" and sent["code"] == "abc"
    assert sent["code_verifier"] == flow.verifier


def test_a_callback_with_another_state_is_refused_before_any_exchange():
    settings = oidc.settings_of(CONFIG)
    flow = oidc.start(settings)

    def post(*args, **kwargs):
        raise AssertionError("no code exchange for a forged state")

    with pytest.raises(oidc.SignInFailed, match="不匹配"):
        oidc.finish(settings, callback(flow, code="abc", state="forged"), Verifier(), post)


def test_an_id_token_with_another_nonce_audience_or_key_is_refused(idp_key):
    settings = oidc.settings_of(CONFIG)
    public = idp_key.public_key()
    oidc.check_id_token(settings, id_token(idp_key, nonce="n"), "n", key=public)
    with pytest.raises(oidc.SignInFailed, match="不匹配"):
        oidc.check_id_token(settings, id_token(idp_key, nonce="other"), "n", key=public)
    with pytest.raises(oidc.SignInFailed, match="无效"):
        oidc.check_id_token(settings, id_token(idp_key, nonce="n", aud="x"), "n", key=public)
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(oidc.SignInFailed, match="无效"):
        oidc.check_id_token(settings, id_token(stranger, nonce="n"), "n", key=public)
