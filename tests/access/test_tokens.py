"""Bearer token verification (services/access/tokens.py) and the local issuer: each refusal
the issue names, on PyJWT, without a server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.access.tokens import (
    DEFAULT_AUDIENCE,
    JWKS_FILE,
    KEY_FILE,
    LOCAL_ISSUER,
    AuthSettings,
    LocalIssuer,
    TokenRefused,
    TokenVerifier,
)


@pytest.fixture
def issuer(tmp_path):
    return LocalIssuer(tmp_path / "auth")


@pytest.fixture
def verifier(issuer):
    return TokenVerifier(AuthSettings.from_config({"AUTH_KEY_DIR": str(issuer.folder)}))


def token(issuer, **overrides) -> str:
    return issuer.issue(name="王芳", role="unit_clerk", sub="s-1", unit="u1", **overrides)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_the_key_is_made_once_and_readable_by_its_owner_only(issuer):
    issuer.ensure()
    key = issuer.folder / KEY_FILE
    before = key.read_bytes()
    issuer.ensure()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() == before
    assert "d" not in json.loads((issuer.folder / JWKS_FILE).read_text())["keys"][0]  # public


def test_a_good_token_names_the_person(issuer, verifier):
    identity = verifier.verify(token(issuer, city="zhangjiakou"))
    assert (identity.sub, identity.name, identity.role, identity.unit, identity.city) == (
        "s-1",
        "王芳",
        "unit_clerk",
        "u1",
        "zhangjiakou",
    )
    assert identity.actor == "王芳 (s-1)"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hours": -1}, "令牌已过期"),
        ({"audience": "another-system"}, "令牌的受众不是本系统"),
        ({"now": time.time() + 3600}, "令牌尚未生效"),
    ],
)
def test_expired_foreign_or_early_tokens_are_refused(issuer, verifier, overrides, message):
    with pytest.raises(TokenRefused, match=message):
        verifier.verify(token(issuer, **overrides))


def test_a_small_clock_skew_is_allowed(issuer, verifier):
    assert verifier.verify(token(issuer, now=time.time() + 10)).sub == "s-1"


def test_another_issuer_is_refused(tmp_path, issuer, verifier):
    issuer.ensure()
    other = LocalIssuer(issuer.folder, issuer="https://elsewhere.example/realms/x")
    with pytest.raises(TokenRefused, match="签发者"):
        verifier.verify(token(other))


def test_a_tampered_payload_fails_the_signature(issuer, verifier):
    head, payload, signature = token(issuer).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "city_reviewer"
    with pytest.raises(TokenRefused, match="签名无效"):
        verifier.verify(".".join((head, _b64(claims), signature)))


def test_alg_none_is_refused(issuer, verifier):
    issuer.ensure()
    kid = issuer.jwks()["keys"][0]["kid"]
    claims = jwt.decode(token(issuer), options={"verify_signature": False})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}."
    with pytest.raises(TokenRefused):
        verifier.verify(unsigned)


def test_hs256_signed_with_the_public_key_is_refused(issuer, verifier):
    """The classic confusion: the issuer's public key used as an HMAC secret."""
    issuer.ensure()
    jwk = issuer.jwks()["keys"][0]
    public_pem = (
        jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwk))
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    claims = jwt.decode(token(issuer), options={"verify_signature": False})
    # signed by hand: PyJWT itself will not HMAC with a PEM key, an attacker's script will
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': jwk['kid']})}.{_b64(claims)}"
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(TokenRefused, match="算法"):
        verifier.verify(forged)


def test_garbage_and_unknown_roles_are_refused(issuer, verifier):
    with pytest.raises(TokenRefused):
        verifier.verify("not.a.token")
    issuer.ensure()
    key = (issuer.folder / KEY_FILE).read_bytes()
    kid = issuer.jwks()["keys"][0]["kid"]
    now = int(time.time())
    claims = {"iss": LOCAL_ISSUER, "aud": DEFAULT_AUDIENCE, "sub": "x", "exp": now + 60}
    for bad in ({**claims, "role": "root"}, {**claims, "role": "unit_clerk", "unit": 7}):
        with pytest.raises(TokenRefused):
            verifier.verify(jwt.encode(bad, key, algorithm="ES256", headers={"kid": kid}))


def test_production_reads_the_issuers_jwks_over_http():
    """RS256 as Keycloak signs, the JWKS fetched by PyJWKClient from the issuer's URL."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="kc-1", use="sig", alg="RS256")
    body = json.dumps({"keys": [public]}).encode()

    class Certs(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Certs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        realm = "https://idp.example/realms/mutual-aid"
        verifier = TokenVerifier(
            AuthSettings.from_config(
                {
                    "AUTH_ISSUER": realm,
                    "AUTH_AUDIENCE": "mutual-aid",
                    "AUTH_JWKS_URL": f"http://127.0.0.1:{server.server_port}/certs",
                }
            )
        )
        now = int(time.time())
        claims = {"iss": realm, "aud": "mutual-aid", "sub": "kc-sub", "exp": now + 60}
        claims.update(name="李四", role="city_reviewer", city="wujin")
        good = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "kc-1"})
        assert verifier.verify(good).actor == "李四 (kc-sub)"
        with pytest.raises(TokenRefused, match="签发者"):
            verifier.verify(
                jwt.encode({**claims, "iss": "x"}, key, algorithm="RS256", headers={"kid": "kc-1"})
            )
    finally:
        server.shutdown()
